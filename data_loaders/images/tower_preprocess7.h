// v7's pixels (SPEC-v7 section 5, SamDinoSigLIPViTBackbone.__init__): each tower gets its own
// tensor of the same picture, resized to an exact square with PIL's bicubic (aspect ratio not kept,
// nothing cropped), then torchvision's ToTensor (v / 255) and Normalize ((x - mean) / std).
#pragma once
#include "image_decode.h"

#include <torch/torch.h>

#include <array>
#include <string>

#include "model/vision_towers7.h"
#include "tower_image_source7.h"

namespace vrwkv::data {

// DINOv2 at 448, ImageNet statistics.
SquareTransform dino_transform7();
// SigLIP at 448, mean = std = 0.5.
SquareTransform siglip_transform7();
// SAM at 1024 with DINOv2's interpolation and ImageNet statistics (not SAM's own longest-side resize).
SquareTransform sam_transform7();

// float32 [3, t.size, t.size]: resize_bicubic_pil to t.size x t.size, then (v / 255 - mean) / std in float32.
torch::Tensor preprocess_square(const RgbImage& img, const SquareTransform& t);

// The three towers' pixels of one picture, each [1, 3, S, S] (a batch of one, ready to concatenate);
// the full-size transforms unless given.
TowerPixels preprocess_towers7(const RgbImage& img);
TowerPixels preprocess_towers7(const RgbImage& img, const TowerTransforms7& transforms);

}  // namespace vrwkv::data
