// The RWKV-7 WKV recurrence as one differentiable operator (SPEC-v7 section 3).
//
// Per head (N channels) with state S [N x N] (row i: value channel, column j: key channel):
//   d = exp(-exp(w_t));  s = S alpha_t;  S = S diag(d) + s beta_t^T + v_t k_t^T;  y_t = S r_t
// using the state before the step for s and the state after it for y. The model passes
// alpha = -kk and beta = kk * a, so S (diag(d) - kk (kk * a)^T) removes from S what it holds along
// kk (with a = 1 and d near 1, nearly all of it: the "strong in-context removal" case).
// r, w, k, v, alpha, beta: [B, T, C] with C = H * head_size. Returns y: [B, T, C] in r's dtype.
// The CPU path works on raw buffers, parallel over batch x heads, with the state in float32
// (float64 when the inputs are float64, which the reference tests use). Unlike the original's kernel
// it needs no T % 16 = 0: the model pads as the original does (model/rwkv7.h), not the kernel.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace vrwkv {

// B, T, H and N of the six inputs [B, T, H * N]; throws vrwkv::Error unless they share one shape and
// C is a multiple of head_size. Both formulations (this one, model/wkv7_chunked.h) check with it.
struct Wkv7Shape {
  int64_t B, T, H, N;
};
Wkv7Shape wkv7_shape(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& alpha, const torch::Tensor& beta, int64_t head_size);

// CPU tensors take the CPU kernel; CUDA tensors (float32 or bfloat16, head sizes dividing 64) the CUDA
// kernel in a build with CUDA (model/cuda/wkv7_cuda.h). What neither covers is an error that says so,
// never a host copy.
torch::Tensor wkv7(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& alpha, const torch::Tensor& beta, int64_t head_size);

// The forward from `state0` [B, H, N, N] (undefined: zeros) on the inputs' device, for recurrent
// decoding: {y, the state after the last step (float32; float64 for float64 CPU inputs)}. No autograd.
std::pair<torch::Tensor, torch::Tensor> wkv7_forward_from_state(const torch::Tensor& r, const torch::Tensor& w,
                                                                const torch::Tensor& k, const torch::Tensor& v,
                                                                const torch::Tensor& alpha, const torch::Tensor& beta,
                                                                int64_t head_size, const torch::Tensor& state0);

// The raw CPU kernels, exposed for tests, benchmarks and recurrent decoding.
// Forward from `state0` [B, H, N, N] (undefined: zeros); returns {y, the state after the last step}.
// The state is float32 (float64 for float64 inputs) and never aliases state0.
std::pair<torch::Tensor, torch::Tensor> wkv7_forward_cpu(const torch::Tensor& r, const torch::Tensor& w,
                                                         const torch::Tensor& k, const torch::Tensor& v,
                                                         const torch::Tensor& alpha, const torch::Tensor& beta,
                                                         int64_t head_size, const torch::Tensor& state0 = {});
// Returns {dr, dw, dk, dv, dalpha, dbeta} given dy, for a forward from zeros.
std::vector<torch::Tensor> wkv7_backward_cpu(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                             const torch::Tensor& v, const torch::Tensor& alpha,
                                             const torch::Tensor& beta, int64_t head_size, const torch::Tensor& dy);

}  // namespace vrwkv
