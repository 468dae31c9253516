// Which pictures a run reads: image files, decoded and CLIP-preprocessed (OpenCV builds), or
// synthetic pictures drawn from each path (data.image.synthetic; every build). Every failure of a
// file is a counted, skippable text::SampleError; a build without a decoder asked for a file is a
// vrwkv::Error that stops the job, since skipping every image would change what it trains on.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "config/run_config.h"
#include "text/conversation.h"  // text::SampleError

namespace vrwkv::data {

// Loads an image file into a [3, S, S] float tensor; throws text::SampleError (missing_image,
// bad_image) for a file that cannot be used.
using ImageLoader = std::function<torch::Tensor(const std::string& path)>;

// The configured source: synthetic pictures, or make_image_decoder's.
ImageLoader make_image_loader(const ImageConfig& config);

// Images held in memory (MMBench's TSV carries them in base64): encoded bytes and a name for
// messages -> preprocessed [3, S, S]. Synthetic pictures are drawn from the name.
using ImageBytesLoader = std::function<torch::Tensor(const std::string& bytes, const std::string& name)>;
ImageBytesLoader make_image_bytes_loader(const ImageConfig& config);
// The decoding half (OpenCV builds; without OpenCV every call is an Error).
ImageBytesLoader make_image_bytes_decoder(const ImageConfig& config);

// Decodes and preprocesses image files (image_loader.cpp); without OpenCV every call is an Error
// (image_loader_without_opencv.cpp). Creating it never fails, so text-only data trains anywhere.
ImageLoader make_image_decoder(const ImageConfig& config);

// A fixed [3, size, size] float32 picture for `path` (the same on every run and platform), already
// normalised with mean / std like a preprocessed photo: smooth colour ramps plus seeded noise.
torch::Tensor synthetic_image(const std::string& path, const ImageConfig& config);

}  // namespace vrwkv::data
