// v7's pixels (SPEC-v7 section 5, SamDinoSigLIPViTBackbone.__init__): each tower gets its own
// tensor of the same picture, resized to an exact square with PIL's bicubic (aspect ratio not kept,
// nothing cropped), then torchvision's ToTensor (v / 255) and Normalize ((x - mean) / std).
#pragma once
#include "image_decode.h"

#include <torch/torch.h>

#include <array>
#include <string>

#include "model/vision_towers7.h"

namespace vrwkv::data {

struct SquareTransform {
  int size = 448;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// DINOv2 at 448, ImageNet statistics.
SquareTransform dino_transform7();
// SigLIP at 448, mean = std = 0.5.
SquareTransform siglip_transform7();
// SAM at 1024 with DINOv2's interpolation and ImageNet statistics (not SAM's own longest-side resize).
SquareTransform sam_transform7();

// float32 [3, t.size, t.size]: resize_bicubic_pil to t.size x t.size, then (v / 255 - mean) / std in float32.
torch::Tensor preprocess_square(const RgbImage& img, const SquareTransform& t);

// The three towers' pixels of one picture, each [1, 3, S, S] (a batch of one, ready to concatenate).
TowerPixels preprocess_towers7(const RgbImage& img);

// Zero pixels of one picture for every tower: what a sample gets when one of its images fails to load.
TowerPixels zero_towers7();

// The pictures' pixels in order, one call per tower: [N, 3, S, S] each.
TowerPixels concat_tower_pixels(const std::vector<TowerPixels>& images);

}  // namespace vrwkv::data
