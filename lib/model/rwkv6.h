// The RWKV-6 (x060) language model: TimeMix, ChannelMix, blocks, head (SPEC section 2).
// Parameter names follow the original state dict exactly (SPEC section 3).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "model/config.h"
#include "model/layer_state.h"
#include "model/token_shift.h"

namespace vrwkv {

struct TimeMixImpl : torch::nn::Module {
  TimeMixImpl(const ModelConfig& config, int64_t layer_id);
  torch::Tensor forward(const torch::Tensor& x, LayerState* state = nullptr, bool fresh = true);

  int64_t n_head, head_size;
  torch::Tensor time_maa_x, time_maa_w, time_maa_k, time_maa_v, time_maa_r, time_maa_g;
  torch::Tensor time_maa_w1, time_maa_w2, time_decay, time_decay_w1, time_decay_w2, time_faaaa;
  torch::nn::Linear receptance{nullptr}, key{nullptr}, value{nullptr}, gate{nullptr}, output{nullptr};
  torch::nn::GroupNorm ln_x{nullptr};
};
TORCH_MODULE(TimeMix);

struct ChannelMixImpl : torch::nn::Module {
  ChannelMixImpl(const ModelConfig& config, int64_t layer_id);
  torch::Tensor forward(const torch::Tensor& x, LayerState* state = nullptr, bool fresh = true);

  torch::Tensor time_maa_k, time_maa_r;
  torch::nn::Linear key{nullptr}, receptance{nullptr}, value{nullptr};
};
TORCH_MODULE(ChannelMix);

struct BlockImpl : torch::nn::Module {
  BlockImpl(const ModelConfig& config, int64_t layer_id);
  torch::Tensor forward(torch::Tensor x, LayerState* state = nullptr, bool fresh = true);

  int64_t layer_id;
  torch::nn::LayerNorm ln0{nullptr}, ln1{nullptr}, ln2{nullptr};
  TimeMix att{nullptr};
  ChannelMix ffn{nullptr};
};
TORCH_MODULE(Block);

// Reorders positions of x along T before a block and restores them after (the scan modes).
// Given the block index, returns a gather index over T, or an undefined tensor for "as is".
using BlockOrder = std::function<torch::Tensor(int64_t layer_id)>;

struct RWKVImpl : torch::nn::Module {
  explicit RWKVImpl(const ModelConfig& config);
  // x: input embeddings [B, T, C]; returns logits [B, T, V].
  torch::Tensor forward(torch::Tensor x, const BlockOrder& order = nullptr);
  // The hidden states before the head, ln_out(...) [B, T, C]: for a loss that applies the head
  // itself in chunks (chunked_training_loss) instead of materialising all logits.
  torch::Tensor forward_hidden(torch::Tensor x, const BlockOrder& order = nullptr);
  // The blocks alone (before ln_out), each in its order; with `states` (one per block) continuing
  // after them (LayerState), as recurrent decoding reads a prompt chunk by chunk.
  torch::Tensor forward_blocks(torch::Tensor x, const BlockOrder& order = nullptr,
                               std::vector<LayerState>* states = nullptr, bool fresh = true);

  // Gradient checkpointing: each block keeps only its input and recomputes itself in backward.
  bool checkpoint_blocks = false;
  ModelConfig config;
  torch::nn::Embedding emb{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm ln_out{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(RWKV);

}  // namespace vrwkv
