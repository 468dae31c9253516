// Small constructors both RWKV generations build their blocks from, so the conventions (no bias on
// linears, LayerNorm eps 1e-5, the initialisation ramp) are stated once.
#pragma once
#include <torch/torch.h>

namespace vrwkv::layers {

inline constexpr double kLayerNormEps = 1e-5;
// GroupNorm eps of ln_x = 1e-5 * divisor^2 = 6.4e-4 with the original's head_size_divisor 8.
inline constexpr double kHeadSizeDivisor = 8.0;
inline constexpr double kGroupNormEps = 1e-5 * kHeadSizeDivisor * kHeadSizeDivisor;

inline torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

inline torch::nn::LayerNorm layer_norm(int64_t c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c}).eps(kLayerNormEps));
}

// ln_x: one group per head over the attention width.
inline torch::nn::GroupNorm head_group_norm(int64_t n_head, int64_t width) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(n_head, width).eps(kGroupNormEps));
}

// d[c] = c / C, the per-channel ramp of the initialisation formulas (float64).
inline torch::Tensor ramp(int64_t C) { return torch::arange(C, torch::kFloat64) / double(C); }

// A [1, 1, C] float32 parameter value from a float64 formula.
inline torch::Tensor as_mix(const torch::Tensor& v) { return v.to(torch::kFloat32).view({1, 1, -1}); }

}  // namespace vrwkv::layers
