// The trainer's batch source over LLaVA-format data: the index, the tokenizer, the sample builder
// with the configured image source, the seeded sampler and the worker pool, owned together.
#pragma once
#include <memory>

#include "train/batch_source.h"

namespace vrwkv::data {

std::unique_ptr<train::BatchSource> make_llava_batch_source(const train::BatchSourceSpec& spec);

}  // namespace vrwkv::data
