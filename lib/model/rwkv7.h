// The RWKV-7 (x070) language model of VisualRWKV v7: TimeMix, ChannelMix, blocks, head, the left
// padding to a multiple of 16 (SPEC-v7 sections 2-4). Parameter names, shapes and their order follow
// the original state dict, so a plain RWKV-7 World file loads strictly.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/config.h"
#include "model/layer_state.h"

namespace vrwkv {

// The original runs its kernel on whole chunks of 16 steps and pads a sequence in front with copies
// of the "\n\n" token's embedding up to a multiple of it; the pads change the state and are not masked.
inline constexpr int64_t kRwkv7ChunkLen = 16;
inline constexpr int64_t kRwkv7PadId = 261;

struct TimeMix7Impl : torch::nn::Module {
  TimeMix7Impl(const Rwkv7Config& config, int64_t layer_id);
  // x: ln1 output [B, T, C]. Layer 0 sets v_first to its own values; later layers read it (the value
  // residual). With `state`, continues after it (model/layer_state.h).
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor& v_first, LayerState* state = nullptr,
                        bool fresh = true);

  int64_t layer_id, n_head, head_size;
  Wkv7Kernel wkv_kernel;
  torch::Tensor x_r, x_w, x_k, x_v, x_a, x_g;
  torch::Tensor w0, w1, w2, a0, a1, a2, v0, v1, v2, g1, g2, k_k, k_a, r_k;
  torch::nn::Linear receptance{nullptr}, key{nullptr}, value{nullptr}, output{nullptr};
  torch::nn::GroupNorm ln_x{nullptr};
};
TORCH_MODULE(TimeMix7);

// relu(key(x + shift delta * x_k))^2 through value: no receptance gate, unlike v6.
struct ChannelMix7Impl : torch::nn::Module {
  ChannelMix7Impl(const Rwkv7Config& config, int64_t layer_id);
  torch::Tensor forward(const torch::Tensor& x, LayerState* state = nullptr, bool fresh = true);

  torch::Tensor x_k;
  torch::nn::Linear key{nullptr}, value{nullptr};
};
TORCH_MODULE(ChannelMix7);

struct Block7Impl : torch::nn::Module {
  Block7Impl(const Rwkv7Config& config, int64_t layer_id);
  torch::Tensor forward(torch::Tensor x, torch::Tensor& v_first, LayerState* state = nullptr, bool fresh = true);

  int64_t layer_id;
  torch::nn::LayerNorm ln0{nullptr}, ln1{nullptr}, ln2{nullptr};
  TimeMix7 att{nullptr};
  ChannelMix7 ffn{nullptr};
};
TORCH_MODULE(Block7);

struct RWKV7Impl : torch::nn::Module {
  explicit RWKV7Impl(const Rwkv7Config& config);
  // x: input embeddings [B, T, C]; returns logits [B, T, V].
  torch::Tensor forward(const torch::Tensor& x);
  // ln_out of the blocks [B, T, C], for a loss that applies the head itself in chunks. Read from
  // zeros (no states, or fresh ones), x is left-padded to a multiple of 16 and the pads' outputs
  // dropped, as the original's forward. A chunk that continues after `states` is not padded: the
  // pads belong to the start of a sequence.
  torch::Tensor forward_hidden(const torch::Tensor& x, std::vector<LayerState>* states = nullptr, bool fresh = true);
  // x with the p = (16 - T % 16) % 16 copies of emb(261) in front.
  torch::Tensor pad_left(const torch::Tensor& x) const;

  Rwkv7Config config;
  // Recompute each block in backward instead of keeping its activations (train.grad_checkpointing).
  bool checkpoint_blocks = false;
  torch::nn::Embedding emb{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm ln_out{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(RWKV7);

}  // namespace vrwkv
