// The loader's image source: decode + CLIP preprocessing as configured, with every failure turned
// into a counted, skippable text::SampleError instead of an error that would stop the job.
#pragma once
#include "config/run_config.h"
#include "sample_builder.h"

namespace vrwkv::data {

ImageLoader make_image_loader(const ImageConfig& config);

}  // namespace vrwkv::data
