// CLIP pixel preprocessing (SPEC.md section 4): what Hugging Face CLIPImageProcessor does with the
// CLIP-L/14-336 settings, optionally after LLaVA-1.5's expand2square padding.
#pragma once
#include "image_decode.h"

#include <torch/torch.h>

#include <array>
#include <string>

namespace vrwkv::data {

struct ImageTransform {
  int size = 336;  // output side; also the target of the shorter side before the crop
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  // kCrop: resize + centre crop (CLIPImageProcessor); kPad: first expand to a square filled with
  // the mean colour (LLaVA-1.5 image_aspect_ratio = "pad").
  enum class Aspect { kCrop, kPad } aspect = Aspect::kCrop;
};

// The padding colour of kPad: int(mean * 255) per channel, as LLaVA computes it.
std::array<uint8_t, 3> mean_colour_u8(const ImageTransform& t);

// LLaVA's expand2square: a max(w, h) square canvas of `fill` with `img` pasted at
// ((side - w) / 2, (side - h) / 2) (integer division). A square image is returned unchanged.
RgbImage expand_to_square(const RgbImage& img, const std::array<uint8_t, 3>& fill);

// float32 [3, t.size, t.size], CLIP-normalised: (kPad: expand_to_square with the mean colour);
// resize with resize_bicubic_pil so the shorter side is t.size and the longer
// int(t.size * long / short); centre crop at top = (h - size) / 2, left = (w - size) / 2;
// then (v * (1/255) - mean) / std per channel, in float32.
torch::Tensor preprocess(const RgbImage& img, const ImageTransform& t);

// decode_image(path) followed by preprocess(); errors name the file.
torch::Tensor load_and_preprocess(const std::string& path, const ImageTransform& t);

}  // namespace vrwkv::data
