#include "tower_preprocess7.h"

#include "base/error.h"
#include "pil_resize.h"

namespace vrwkv::data {

// The full-size towers' transforms: one source of the sizes and statistics (tower_transforms7).
SquareTransform dino_transform7() { return tower_transforms7(VisionTowers7Config{}).dino; }
SquareTransform siglip_transform7() { return tower_transforms7(VisionTowers7Config{}).siglip; }
SquareTransform sam_transform7() { return tower_transforms7(VisionTowers7Config{}).sam; }

torch::Tensor preprocess_square(const RgbImage& img, const SquareTransform& t) {
  VRWKV_CHECK(t.size > 0, "preprocess: bad transform size ", t.size);
  VRWKV_CHECK(img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * 3,
              "preprocess: bad image ", img.width, "x", img.height);
  for (int c = 0; c < 3; ++c) VRWKV_CHECK(t.std[c] != 0.0f, "preprocess: std[", c, "] is zero");
  const RgbImage square = resize_bicubic_pil(img, t.size, t.size);
  // ToTensor divides by 255 (not a multiply by 1/255, which rounds differently); Normalize
  // subtracts, then divides, in float32.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) / 255.0f - t.mean[c]) / t.std[c];
  const int64_t plane = int64_t(t.size) * t.size;
  auto out = torch::empty({3, t.size, t.size}, torch::kFloat32);
  float* dst = out.data_ptr<float>();
  const uint8_t* p = square.pixels.data();
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) dst[c * plane + i] = lut[c][p[3 * i + c]];
  return out;
}

TowerPixels preprocess_towers7(const RgbImage& img, const TowerTransforms7& t) {
  return {preprocess_square(img, t.dino).unsqueeze(0), preprocess_square(img, t.siglip).unsqueeze(0),
          preprocess_square(img, t.sam).unsqueeze(0)};
}

TowerPixels preprocess_towers7(const RgbImage& img) {
  return preprocess_towers7(img, tower_transforms7(VisionTowers7Config{}));
}

}  // namespace vrwkv::data
