// The CLIP vision tower (Hugging Face CLIPVisionModel layout and names, SPEC section 4).
#pragma once
#include <torch/torch.h>

#include "model/config.h"

namespace vrwkv {

struct ClipEmbeddingsImpl : torch::nn::Module {
  explicit ClipEmbeddingsImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B, 3, S, S] -> [B, 1 + P, D]

  torch::Tensor class_embedding;
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipEmbeddings);

struct ClipAttentionImpl : torch::nn::Module {
  explicit ClipAttentionImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t num_heads;
  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  explicit ClipMlpImpl(const VisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : torch::nn::Module {
  explicit ClipEncoderLayerImpl(const VisionConfig& config);
  torch::Tensor forward(torch::Tensor x);

  ClipAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

struct ClipEncoderImpl : torch::nn::Module {
  explicit ClipEncoderImpl(const VisionConfig& config);
  torch::nn::ModuleList layers;
};
TORCH_MODULE(ClipEncoder);

struct ClipVisionImpl : torch::nn::Module {
  explicit ClipVisionImpl(const VisionConfig& config);
  // pixels [B, 3, S, S] -> last_hidden_state [B, 1 + P, D]: the encoder output WITHOUT
  // post_layernorm, which is what VisualRWKV uses (post_layernorm is kept for checkpoints only).
  torch::Tensor forward(const torch::Tensor& pixels);

  VisionConfig config;
  ClipEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // sic: Hugging Face's name
  ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(ClipVision);

}  // namespace vrwkv
