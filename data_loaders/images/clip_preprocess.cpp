#include "clip_preprocess.h"

#include "base/error.h"
#include "pil_resize.h"

#include <algorithm>
#include <cstring>

namespace vrwkv::data {

std::array<uint8_t, 3> mean_colour_u8(const ImageTransform& t) {
  std::array<uint8_t, 3> c{};
  for (int i = 0; i < 3; ++i) {
    const double v = double(t.mean[i]) * 255.0;  // Python: int(x * 255) truncates
    c[i] = uint8_t(v <= 0 ? 0 : (v >= 255 ? 255 : int(v)));
  }
  return c;
}

RgbImage expand_to_square(const RgbImage& img, const std::array<uint8_t, 3>& fill) {
  if (img.width == img.height) return img;
  const int side = std::max(img.width, img.height);
  RgbImage out;
  out.width = out.height = side;
  out.pixels.resize(size_t(side) * side * 3);
  for (size_t i = 0; i < out.pixels.size(); i += 3) {
    out.pixels[i] = fill[0];
    out.pixels[i + 1] = fill[1];
    out.pixels[i + 2] = fill[2];
  }
  const int x0 = (side - img.width) / 2, y0 = (side - img.height) / 2;
  for (int y = 0; y < img.height; ++y)
    std::memcpy(out.row(y0 + y) + size_t(x0) * 3, img.row(y), size_t(img.width) * 3);
  return out;
}

torch::Tensor preprocess(const RgbImage& input, const ImageTransform& t) {
  VRWKV_CHECK(t.size > 0, "preprocess: bad transform size ", t.size);
  VRWKV_CHECK(input.width > 0 && input.height > 0 &&
                  input.pixels.size() == size_t(input.width) * input.height * 3,
              "preprocess: bad image ", input.width, "x", input.height);
  for (int c = 0; c < 3; ++c)
    VRWKV_CHECK(t.std[c] != 0.0f, "preprocess: std[", c, "] is zero");

  RgbImage padded;
  const RgbImage* img = &input;
  if (t.aspect == ImageTransform::Aspect::kPad && input.width != input.height) {
    padded = expand_to_square(input, mean_colour_u8(t));
    img = &padded;
  }

  // Shorter side -> size, longer side -> int(size * long / short) (Python's truncation).
  const int w = img->width, h = img->height;
  const int shorter = std::min(w, h), longer = std::max(w, h);
  const long long new_long_ll = (long long)t.size * longer / shorter;  // exact: floor == trunc
  VRWKV_CHECK(new_long_ll <= (1 << 24), "preprocess: image ", w, "x", h,
              " is too elongated to resize");
  const int new_long = int(new_long_ll);
  const int new_w = w <= h ? t.size : new_long;
  const int new_h = w <= h ? new_long : t.size;
  const int top = (new_h - t.size) / 2, left = (new_w - t.size) / 2;
  // Only the crop window of the resized image is computed; the pixels are the same.
  const RgbImage crop = resize_bicubic_pil_crop(*img, new_w, new_h, left, top, t.size, t.size);

  // Per-channel lookup of (v * (1/255) - mean) / std, evaluated in float32.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v)
      lut[c][v] = (float(v) * (1.0f / 255.0f) - t.mean[c]) / t.std[c];

  const int64_t plane = int64_t(t.size) * t.size;
  torch::Tensor out = torch::empty({3, t.size, t.size}, torch::kFloat32);
  float* r = out.data_ptr<float>();
  float* g = r + plane;
  float* b = g + plane;
  const uint8_t* p = crop.pixels.data();
  for (int64_t i = 0; i < plane; ++i) {
    r[i] = lut[0][p[3 * i]];
    g[i] = lut[1][p[3 * i + 1]];
    b[i] = lut[2][p[3 * i + 2]];
  }
  return out;
}

torch::Tensor load_and_preprocess(const std::string& path, const ImageTransform& t) {
  const RgbImage img = decode_image(path);
  try {
    return preprocess(img, t);
  } catch (const Error& e) {
    throw Error(cat("image ", path, ": ", e.what()));
  }
}

}  // namespace vrwkv::data
