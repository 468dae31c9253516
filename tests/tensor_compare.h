// Comparisons used by the numeric tests: relative error in float64, as the fixtures README defines it.
#pragma once
#include <torch/torch.h>

namespace vrwkv::test {

// ||a - b|| / ||b||, computed in float64.
inline double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a64 = a.detach().to(torch::kCPU, torch::kFloat64);
  const auto b64 = b.detach().to(torch::kCPU, torch::kFloat64);
  return ((a64 - b64).norm() / b64.norm()).item<double>();
}

// The largest |got - x y| / (|x| |y|) over the elements of a product, in float64, with x and y first
// rounded to float32 (the operands a float32 product sees): the error of `got` relative to the scale
// its own sums work at.
inline double product_relative_error(const torch::Tensor& got, const torch::Tensor& x, const torch::Tensor& y) {
  auto as_f32 = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat32).to(torch::kFloat64); };
  const auto x32 = as_f32(x), y32 = as_f32(y);
  const auto exact = torch::matmul(x32, y32), scale = torch::matmul(x32.abs(), y32.abs());
  return ((got.detach().to(torch::kCPU, torch::kFloat64) - exact).abs() / scale).max().item<double>();
}

}  // namespace vrwkv::test
