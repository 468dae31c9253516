// The WKV6 recurrence continued from a state (SPEC section 2): what a block needs to read a
// sequence chunk by chunk, as recurrent decoding does. The CPU runs the kernel of model/wkv6.h with
// its state; other devices have the wkv6 operator without a state, so these torch-op forms supply
// the state (closed form) and the state's share of the outputs.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

// The WKV state's dtype for inputs of `t`'s dtype: float32 (float64 for float64 inputs).
torch::ScalarType wkv_state_type(const torch::Tensor& t);

// The WKV of a chunk r, k, v, w [B, T, C] (u [H, N]) after `state` [B, H, N, N], which is replaced
// by the state after the chunk. fresh: nothing was read before (state unused), and the outputs are
// the wkv6 operator's. Picks the path for the device and the chunk's length.
torch::Tensor wkv6_continue(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state, bool fresh);

// One step with torch ops on any device: r, k, v, w [B, C]; state [B, H, N, N] is replaced by the
// state after the step. Returns y [B, C] in r's dtype.
torch::Tensor wkv6_step_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state);
// The state after T steps from zeros, in closed form: S[i][j] = sum_t prod_{s>t} decay_s[i] k_t[i] v_t[j].
// k, v, w: [B, T, C]; returns [B, H, N, N] in float32 (float64 for float64 inputs).
torch::Tensor wkv6_final_state_ops(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                                   int64_t head_size);
// Several steps from a non-zero state with torch ops and the wkv6 operator: y = wkv6 from zeros +
// each position's share of `state` decayed to it; `state` is replaced by the state after the last
// step. r, k, v, w: [B, T, C]; u: [H, N].
torch::Tensor wkv6_from_state_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state);

}  // namespace vrwkv
