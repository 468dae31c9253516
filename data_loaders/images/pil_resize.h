// Bicubic resize that reproduces PIL's Image.resize(size, Image.BICUBIC) on 8-bit RGB bit for bit
// (the filter CLIPImageProcessor uses). Independent of OpenCV, whose INTER_CUBIC differs.
//
// The algorithm (PIL's separable resampler, 8 bits per channel):
//  - kernel: Keys' cubic convolution with a = -0.5, support 2; when shrinking by `scale`
//    (= in / out > 1) the kernel is stretched by `scale` (antialiasing); never narrowed;
//  - output pixel x has centre c = (x + 0.5) * scale and reads input pixels
//    [max(int(c - support + 0.5), 0), min(int(c + support + 0.5), in_size)) with weights
//    filter((i - c + 0.5) / filterscale) normalised to sum 1;
//  - weights become fixed point with 22 fractional bits (rounded half away from zero); sums
//    start at 1 << 21, are shifted right by 22 and clamped to 0..255;
//  - horizontal pass first (skipped when the width is unchanged), then vertical (skipped when
//    the height is unchanged), each rounded to uint8.
#pragma once
#include "image_decode.h"

namespace vrwkv::data {

// Resizes `in` to out_w x out_h. Throws vrwkv::Error on empty input or non-positive sizes.
RgbImage resize_bicubic_pil(const RgbImage& in, int out_w, int out_h);

// The crop_w x crop_h window at (left, top) of resize_bicubic_pil(in, out_w, out_h), computing
// only the pixels inside it (the result is identical to resizing, then cropping).
RgbImage resize_bicubic_pil_crop(const RgbImage& in, int out_w, int out_h, int left, int top,
                                 int crop_w, int crop_h);

}  // namespace vrwkv::data
