// Random WKV6 operator inputs shared by the recurrence tests.
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

}  // namespace vrwkv::test
