// Random WKV6 and WKV7 operator inputs shared by the recurrence tests (CPU and CUDA).
#pragma once
#include <torch/torch.h>

namespace vrwkv::test {

struct WkvInputs {
  torch::Tensor r, k, v, w, u;
};

// r, k, v: [B, T, H*N]; w: decay logits spread over the range real models use (decay from ~0.99
// to ~0.05); u: [H, N].
inline WkvInputs random_wkv_inputs(int64_t B, int64_t T, int64_t H, int64_t N, torch::ScalarType type,
                                   uint64_t seed) {
  torch::manual_seed(seed);
  auto o = torch::TensorOptions().dtype(type);
  return {torch::randn({B, T, H * N}, o), torch::randn({B, T, H * N}, o), torch::randn({B, T, H * N}, o),
          torch::rand({B, T, H * N}, o) * 4.0 - 4.5 + 3.0 * torch::rand({1, 1, H * N}, o),
          torch::randn({H, N}, o) * 0.5};
}

// WKV7 (model/wkv7.h): r, w, k, v, alpha, beta [B, T, H * N].
struct Wkv7Inputs {
  torch::Tensor r, w, k, v, alpha, beta;
  int64_t N;
};

// The inputs as the model makes them: w soft-clamped below -0.5 (decay in (0.545, 1)), alpha = -kk and
// beta = kk * a with kk unit length per head and a in (0, 1); `a_min` near 1 gives strong removal.
inline Wkv7Inputs random_wkv7_inputs(int64_t B, int64_t T, int64_t H, int64_t N, torch::ScalarType type,
                                     uint64_t seed, double a_min = 0.0) {
  torch::manual_seed(seed);
  auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto r = torch::randn({B, T, H * N}, o), k = torch::randn({B, T, H * N}, o), v = torch::randn({B, T, H * N}, o);
  const auto w = -torch::softplus(-(torch::randn({B, T, H * N}, o) * 2.0 - 1.0)) - 0.5;
  auto kk = torch::randn({B, T, H, N}, o);
  kk = (kk / kk.norm(2, -1, true)).view({B, T, H * N});
  const auto a = a_min + (1.0 - a_min) * torch::rand({B, T, H * N}, o);
  auto to = [&](const torch::Tensor& t) { return t.to(type); };
  return {to(r), to(w), to(k), to(v), to(-kk), to(kk * a), N};
}

}  // namespace vrwkv::test
