#include "model/image_pool7.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace vrwkv {

int64_t pooled_side(int64_t tokens_per_image, int64_t grid_side) {
  const auto s = static_cast<int64_t>(std::llround(std::sqrt(double(std::max<int64_t>(tokens_per_image, 0)))));
  VRWKV_CHECK(tokens_per_image > 0 && s * s == tokens_per_image && s <= grid_side, "num_token_per_image ",
              tokens_per_image, " must be a square s * s with 1 <= s <= ", grid_side, " (the ", grid_side, " x ",
              grid_side, " patch grid is pooled to s x s tokens)");
  return s;
}

torch::Tensor pool_image_grid(const torch::Tensor& features, int64_t tokens_per_image) {
  VRWKV_CHECK(features.dim() == 3, "image features must be [N, patches, D], got ", features.sizes());
  const int64_t N = features.size(0), P = features.size(1), D = features.size(2);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(P))));
  VRWKV_CHECK(side * side == P, "image features: ", P, " patches are not a square grid");
  const int64_t s = pooled_side(tokens_per_image, side);
  if (s == side) return features;
  const auto grid = features.transpose(1, 2).reshape({N, D, side, side});
  return torch::adaptive_avg_pool2d(grid, {s, s}).flatten(2).transpose(1, 2);  // [N, s*s, D], row-major
}

}  // namespace vrwkv
