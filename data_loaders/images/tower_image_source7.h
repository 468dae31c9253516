// Which pixels v7's towers read (SPEC-v7 section 5): each tower's square transform (its size from the
// model's tower config, its own mean and std), image files decoded and preprocessed per tower (OpenCV
// builds), or synthetic pictures drawn from each path (data.image.synthetic; every build). As for v6,
// a file that cannot be used is a counted, skippable text::SampleError: the original would train the
// sample on zero pixels instead (MyDataset.__getitem__), which silently changes what is trained on.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "model/vision_towers7.h"

namespace vrwkv::data {

struct SquareTransform {
  int size = 448;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

struct TowerTransforms7 {
  SquareTransform dino, siglip, sam;
};

// DINOv2 and SAM with ImageNet statistics, SigLIP with mean = std = 0.5, each at its tower's
// image_size (448, 448 and 1024 at full size).
TowerTransforms7 tower_transforms7(const VisionTowers7Config& towers);

// One picture's pixels for every tower, each [1, 3, S, S]; throws text::SampleError (missing_image,
// bad_image) for a file that cannot be used.
using TowerImageLoader = std::function<TowerPixels(const std::string& path)>;

// synthetic pictures when image.synthetic, else make_tower_image_decoder7's.
TowerImageLoader make_tower_image_loader7(const ImageConfig& image, const TowerTransforms7& transforms);
// The decoding half (OpenCV builds; without OpenCV every call is an Error that stops the job).
TowerImageLoader make_tower_image_decoder7(const TowerTransforms7& transforms);

// The same for an encoded image held in memory (MMBench's base64 images, decoded); `name` names it in
// errors (and seeds the synthetic picture).
using TowerImageBytesLoader = std::function<TowerPixels(const std::string& bytes, const std::string& name)>;
TowerImageBytesLoader make_tower_image_bytes_loader7(const ImageConfig& image, const TowerTransforms7& transforms);
TowerImageBytesLoader make_tower_image_bytes_decoder7(const TowerTransforms7& transforms);

// synthetic_image of `path` at each tower's size and statistics.
TowerPixels synthetic_tower_pixels7(const std::string& path, const TowerTransforms7& transforms);

}  // namespace vrwkv::data
