// The RWKV-6 WKV recurrence as one differentiable operator (SPEC section 2).
//
// Per head (N channels) with state S [N x N] starting at 0:
//   y_t[j] = sum_i r_t[i] * (u[i] k_t[i] v_t[j] + S[i][j]);   S = S * exp(-exp(w_t[i])) (row i) + k_t v_t^T
// r, k, v, w: [B, T, C] with C = H * N; u: [H, N]. Returns y: [B, T, C] in the dtype of r.
// The CPU path works on raw buffers, parallel over batch x heads, with the state in float32
// (float64 when the inputs are float64, which the gradient tests use).
#pragma once
#include <torch/torch.h>

#include "model/head_padding.h"

#include <utility>

namespace vrwkv {

// CPU tensors take the CPU kernel, CUDA tensors the CUDA kernel (never a host copy); a CUDA input
// the kernel does not cover (head size, dtype) is an error naming its shape and dtypes.
torch::Tensor wkv6(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& w, const torch::Tensor& u);

// The head size the CUDA kernel is built for. Smaller heads that divide it run zero-padded: a padded
// channel has r = k = v = 0, so it adds nothing to the real channels and its own outputs are dropped.
inline constexpr int64_t kWkv6KernelHeadSize = 64;

// The raw kernels, exposed for tests and benchmarks. Inputs contiguous, same dtype, CPU.
torch::Tensor wkv6_forward_cpu(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& w, const torch::Tensor& u);
// The same forward starting from `state0` [B, H, N, N] (undefined: zeros) instead of zeros; returns
// {y, the state after the last step}. The state is float32 (float64 for float64 inputs); both come
// back on r's device. From zeros, y is bitwise the y of wkv6_forward_cpu. For recurrent decoding.
std::pair<torch::Tensor, torch::Tensor> wkv6_forward_with_state(const torch::Tensor& r, const torch::Tensor& k,
                                                                const torch::Tensor& v, const torch::Tensor& w,
                                                                const torch::Tensor& u,
                                                                const torch::Tensor& state0 = {});
// Returns {dr, dk, dv, dw, du} given dy.
std::vector<torch::Tensor> wkv6_backward_cpu(const torch::Tensor& r, const torch::Tensor& k,
                                             const torch::Tensor& v, const torch::Tensor& w,
                                             const torch::Tensor& u, const torch::Tensor& dy);

}  // namespace vrwkv
