// The WKV7 recurrence (model/wkv7.h) in chunks of 16 steps, written as batched matrix products so that
// the work parallel over time runs as a few large products instead of one small step at a time.
//
// Within a chunk that starts from state S0, with g_t the running sum of the log decays -exp(w) over the
// chunk's steps 0..t (per key channel), every state is S0 decayed plus rank-one terms decayed from the
// step they were added:
//   S_t = S0 diag(e^{g_t}) + sum_{i<=t} (u_i beta_i^T + v_i k_i^T) diag(e^{g_t - g_i}),  u_t = S_{t-1} alpha_t.
// The u_t of one chunk solve one unit lower-triangular 16 x 16 system, y_t = S_t r_t follows from them by
// products, and the state moves from chunk to chunk as S <- S A_c + H_c (A_c: the chunk's 16 transitions
// multiplied out). Only that last line runs chunk after chunk; everything else runs for all chunks at once.
//
// The decays enter as e^{g} and e^{-g} factors (q = r e^{g}, k~ = k e^{-g}), which stay inside float32 as
// long as 16 consecutive steps' log decays sum above -80 (exp(w) below 5 on average). The model's soft
// clamp (w <= -0.5, decay >= 0.545) gives at most 9.7, far inside; outside that range the results overflow.
//
// The backward is autograd through these products, which keeps the chunk intermediates (a few dozen
// float32 tensors of an input's size per layer); train.grad_checkpointing recomputes them per block
// instead. On a GPU the products run in cuBLAS. Computed in float32 (float64 for float64 inputs),
// like the per-step kernel's state, except the products that make y (q S0^T, wy S0^T, the pairwise
// q b~^T, q k~^T and their products with u, v): for bfloat16 inputs those take bfloat16 operands
// (tensor cores), since nothing but the bfloat16 output depends on them. The state path's products
// (the pairwise a^ b~^T, a^ k~^T, the transition and what each chunk adds) would put 2e-3 of error
// into the state with bfloat16 operands (measured); for bfloat16 inputs on CUDA they run as split
// bfloat16 products instead (model/split_bf16_matmul.h: tensor cores, to about 2^-16 of float32).
// The chunk-to-chunk scan (model/state_scan.h) stays float32. A fused kernel is the next step.
#pragma once
#include <torch/torch.h>

#include <utility>

namespace vrwkv {

inline constexpr int64_t kWkv7ChunkedLen = 16;

// How the state path's products are computed (the y side follows the inputs' dtype, above).
enum class Wkv7StateProducts {
  kAuto,           // split for bfloat16 inputs on CUDA, float32 otherwise
  kFloat32,        // plain float32 products
  kSplitBfloat16,  // model/split_bf16_matmul.h, for float32 or bfloat16 inputs
};

// r, w, k, v, alpha, beta: [B, T, C] on one device, any T (padded inside to a multiple of 16 with
// steps that leave the state unchanged). state0: [B, H, N, N] or undefined (zeros).
// Returns {y [B, T, C] in r's dtype, the state after the last step (float32; float64 for float64)},
// differentiable with respect to the six inputs and state0 unless under a NoGradGuard.
std::pair<torch::Tensor, torch::Tensor> wkv7_chunked(const torch::Tensor& r, const torch::Tensor& w,
                                                     const torch::Tensor& k, const torch::Tensor& v,
                                                     const torch::Tensor& alpha, const torch::Tensor& beta,
                                                     int64_t head_size, const torch::Tensor& state0 = {},
                                                     Wkv7StateProducts state_products = Wkv7StateProducts::kAuto);

}  // namespace vrwkv
