#include "tower_preprocess7.h"

#include "base/error.h"
#include "pil_resize.h"

namespace vrwkv::data {

SquareTransform dino_transform7() { return SquareTransform{}; }

SquareTransform siglip_transform7() { return SquareTransform{448, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}}; }

SquareTransform sam_transform7() {
  SquareTransform t;
  t.size = 1024;
  return t;
}

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

TowerPixels preprocess_towers7(const RgbImage& img) {
  return {preprocess_square(img, dino_transform7()).unsqueeze(0), preprocess_square(img, siglip_transform7()).unsqueeze(0),
          preprocess_square(img, sam_transform7()).unsqueeze(0)};
}

TowerPixels zero_towers7() {
  const auto zeros = [](const SquareTransform& t) { return torch::zeros({1, 3, t.size, t.size}); };
  return {zeros(dino_transform7()), zeros(siglip_transform7()), zeros(sam_transform7())};
}

TowerPixels concat_tower_pixels(const std::vector<TowerPixels>& images) {
  VRWKV_CHECK(!images.empty(), "concat_tower_pixels: no images");
  std::vector<torch::Tensor> dino, siglip, sam;
  for (const auto& p : images) {
    dino.push_back(p.dino);
    siglip.push_back(p.siglip);
    sam.push_back(p.sam);
  }
  return {torch::cat(dino), torch::cat(siglip), torch::cat(sam)};
}

}  // namespace vrwkv::data
