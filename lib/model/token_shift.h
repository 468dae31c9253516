// The token shift every RWKV mix starts from, whole-sequence and continued across chunks.
#pragma once
#include <torch/torch.h>

#include "model/layer_state.h"

namespace vrwkv {

// shift(x)[t] = x[t-1], zero at t = 0, per sequence. x: [B, T, C].
torch::Tensor token_shift(const torch::Tensor& x);

// shift(x) for a chunk that continues after `state->*prev` [B, C] (the input at the position before
// it); no state, or a fresh one, is token_shift itself, so reading from zeros is the forward's
// arithmetic.
torch::Tensor shifted(const torch::Tensor& x, const LayerState* state, torch::Tensor LayerState::*prev, bool fresh);

// The input at the last position [B, C], copied so a state does not keep the whole chunk alive.
torch::Tensor last_position(const torch::Tensor& x);

}  // namespace vrwkv
