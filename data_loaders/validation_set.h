// The trainer's validation samples over LLaVA-format data (train/batch_source.h ValidationSet):
// either a held-out part of the training file (data.val_fraction, sampler.h held_out_split) or a
// file of their own (data.val_file). Batches are built when asked for, in position order, on the
// calling thread: validation runs between steps, when the training loader's workers are idle.
#pragma once
#include <memory>
#include <vector>

#include "sample_builder.h"
#include "sample_builder7.h"
#include "train/batch_source.h"

namespace vrwkv::data {

// The samples `indices` (ascending) of the training builder's dataset.
std::unique_ptr<train::ValidationSet> make_held_out_validation(const SampleBuilder& builder,
                                                               std::vector<uint64_t> indices, int64_t image_size);
// v7's (SampleBuilder7: multi-image samples, per-tower pixels).
std::unique_ptr<train::ValidationSet> make_held_out_validation(const SampleBuilder7& builder,
                                                               std::vector<uint64_t> indices);

// Every sample of config.data.val_file, built like the training samples of the config's family
// (prompt style or v7's layout, ctx_len, images from data.image_folder).
std::unique_ptr<train::ValidationSet> make_file_validation(const RunConfig& config, const text::Tokenizer& tokenizer);

}  // namespace vrwkv::data
