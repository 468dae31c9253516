// What a block carries from one chunk of a sequence to the next (recurrent decoding): each mix's
// input at the last position read (its token shift) and the WKV state of every head. RWKV-6 and
// RWKV-7 blocks carry the same three things, so both take this struct.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

// A block's forward takes it optionally: without it the block reads a whole sequence from zeros
// (the training forward); with it the block continues after the state and leaves the state after
// its last position there. `fresh` (an argument beside it): nothing read yet, so the arithmetic is
// the training forward's.
struct LayerState {
  torch::Tensor att_shift;  // [B, C]: ln1 output at the last position read (TimeMix's shift(x))
  torch::Tensor wkv;        // [B, H, N, N]: float32 (float64 for a float64 model)
  torch::Tensor ffn_shift;  // [B, C]: ln2 output at the last position read (ChannelMix's shift(x))
};

}  // namespace vrwkv
