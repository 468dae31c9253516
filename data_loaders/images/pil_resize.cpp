#include "pil_resize.h"

#include "base/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vrwkv::data {
namespace {

constexpr int kPrecisionBits = 22;  // PIL: 32 bits - 8 for the pixel - 2 for headroom

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Fixed-point weights of output positions [first, first + count) of an in_size -> out_size
// resize: position j reads input [start[j], start[j] + len[j]) with weights k[j * ksize ...].
struct Coeffs {
  int ksize = 0;
  std::vector<int> start, len;
  std::vector<int32_t> k;
};

Coeffs precompute(int in_size, int out_size, int first, int count) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  const double inv_filterscale = 1.0 / filterscale;  // PIL multiplies by the reciprocal
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.start.resize(count);
  c.len.resize(count);
  c.k.assign(size_t(count) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int j = 0; j < count; ++j) {
    const double center = (first + j + 0.5) * scale;
    // int() truncates like PIL's C cast; negative values are clamped right after.
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size);
    const int n = xmax - xmin;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      w[i] = bicubic((i + xmin - center + 0.5) * inv_filterscale);
      sum += w[i];
    }
    int32_t* kk = &c.k[size_t(j) * c.ksize];
    for (int i = 0; i < n; ++i) {
      const double v = (sum != 0.0 ? w[i] / sum : w[i]) * double(1 << kPrecisionBits);
      kk[i] = int32_t(v < 0 ? v - 0.5 : v + 0.5);  // round half away from zero
    }
    c.start[j] = xmin;
    c.len[j] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: negatives stay negative
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

RgbImage resize_bicubic_pil_crop(const RgbImage& in, int out_w, int out_h, int left, int top,
                                 int crop_w, int crop_h) {
  VRWKV_CHECK(in.width > 0 && in.height > 0 &&
                  in.pixels.size() == size_t(in.width) * in.height * 3,
              "resize_bicubic_pil: bad input image ", in.width, "x", in.height, " with ",
              in.pixels.size(), " bytes");
  VRWKV_CHECK(out_w > 0 && out_h > 0, "resize_bicubic_pil: bad output size ", out_w, "x", out_h);
  VRWKV_CHECK(left >= 0 && top >= 0 && crop_w > 0 && crop_h > 0 && left + crop_w <= out_w &&
                  top + crop_h <= out_h,
              "resize_bicubic_pil: crop ", crop_w, "x", crop_h, " at (", left, ", ", top,
              ") outside the ", out_w, "x", out_h, " output");
  const bool horizontal = out_w != in.width;
  const bool vertical = out_h != in.height;

  Coeffs cy;
  int row0 = top, row1 = top + crop_h;  // input rows the vertical pass reads
  if (vertical) {
    cy = precompute(in.height, out_h, top, crop_h);
    row0 = cy.start.front();
    row1 = cy.start.back() + cy.len.back();  // windows move monotonically
  }

  // Horizontal pass over the needed rows only, giving crop_w columns.
  RgbImage mid;
  mid.width = crop_w;
  mid.height = row1 - row0;
  mid.pixels.resize(size_t(mid.width) * mid.height * 3);
  if (horizontal) {
    const Coeffs cx = precompute(in.width, out_w, left, crop_w);
    for (int y = 0; y < mid.height; ++y) {
      const uint8_t* src = in.row(row0 + y);
      uint8_t* dst = mid.row(y);
      for (int x = 0; x < crop_w; ++x) {
        const uint8_t* s = src + size_t(cx.start[x]) * 3;
        const int32_t* kk = &cx.k[size_t(x) * cx.ksize];
        int32_t r = 1 << (kPrecisionBits - 1), g = r, b = r;
        for (int i = 0, n = cx.len[x]; i < n; ++i) {
          r += s[3 * i] * kk[i];
          g += s[3 * i + 1] * kk[i];
          b += s[3 * i + 2] * kk[i];
        }
        dst[3 * x] = clip8(r);
        dst[3 * x + 1] = clip8(g);
        dst[3 * x + 2] = clip8(b);
      }
    }
  } else {
    for (int y = 0; y < mid.height; ++y)
      std::memcpy(mid.row(y), in.row(row0 + y) + size_t(left) * 3, size_t(crop_w) * 3);
  }
  if (!vertical) return mid;  // rows top .. top + crop_h, already cropped

  RgbImage out;
  out.width = crop_w;
  out.height = crop_h;
  out.pixels.resize(size_t(crop_w) * crop_h * 3);
  const size_t row_len = size_t(crop_w) * 3;
  std::vector<int32_t> acc(row_len);
  for (int y = 0; y < crop_h; ++y) {
    // Accumulate whole rows: the integer sums do not depend on the order of the terms.
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* kk = &cy.k[size_t(y) * cy.ksize];
    for (int i = 0, n = cy.len[y]; i < n; ++i) {
      const uint8_t* s = mid.row(cy.start[y] - row0 + i);
      const int32_t w = kk[i];
      for (size_t j = 0; j < row_len; ++j) acc[j] += s[j] * w;
    }
    uint8_t* d = out.row(y);
    for (size_t j = 0; j < row_len; ++j) d[j] = clip8(acc[j]);
  }
  return out;
}

RgbImage resize_bicubic_pil(const RgbImage& in, int out_w, int out_h) {
  return resize_bicubic_pil_crop(in, out_w, out_h, 0, 0, out_w, out_h);
}

}  // namespace vrwkv::data
