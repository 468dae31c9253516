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

}  // namespace vrwkv::test
