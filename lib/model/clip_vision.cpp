#include "model/clip_vision.h"

#include <cmath>

namespace vrwkv {
namespace {

torch::nn::LayerNorm layer_norm(const VisionConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps));
}

torch::Tensor quick_gelu(const torch::Tensor& x) { return x * torch::sigmoid(1.702 * x); }

}  // namespace

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const VisionConfig& c) {
  class_embedding = register_parameter("class_embedding", torch::randn({c.hidden_size}));
  patch_embedding = register_module(
      "patch_embedding",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.hidden_size, c.patch_size).stride(c.patch_size).bias(false)));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(c.num_patches() + 1, c.hidden_size));
}

torch::Tensor ClipEmbeddingsImpl::forward(const torch::Tensor& pixels) {
  const int64_t B = pixels.size(0);
  auto patches = patch_embedding(pixels.to(patch_embedding->weight.dtype()));  // [B, D, g, g]
  patches = patches.flatten(2).transpose(1, 2);                                // [B, P, D]
  const auto cls = class_embedding.view({1, 1, -1}).expand({B, 1, class_embedding.size(0)});
  return torch::cat({cls, patches}, 1) + position_embedding->weight.unsqueeze(0);
}

ClipAttentionImpl::ClipAttentionImpl(const VisionConfig& c) : num_heads(c.num_attention_heads) {
  const int64_t D = c.hidden_size;
  k_proj = register_module("k_proj", torch::nn::Linear(D, D));
  v_proj = register_module("v_proj", torch::nn::Linear(D, D));
  q_proj = register_module("q_proj", torch::nn::Linear(D, D));
  out_proj = register_module("out_proj", torch::nn::Linear(D, D));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), hd = D / num_heads;
  auto heads = [&](const torch::Tensor& t) { return t.view({B, L, num_heads, hd}).transpose(1, 2); };
  const auto q = heads(q_proj(x)) * (1.0 / std::sqrt(double(hd)));
  const auto k = heads(k_proj(x)), v = heads(v_proj(x));
  const auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)), -1);
  return out_proj(torch::matmul(attn, v).transpose(1, 2).reshape({B, L, D}));
}

ClipMlpImpl::ClipMlpImpl(const VisionConfig& c) {
  fc1 = register_module("fc1", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  fc2 = register_module("fc2", torch::nn::Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) { return fc2(quick_gelu(fc1(x))); }

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const VisionConfig& c) {
  self_attn = register_module("self_attn", ClipAttention(c));
  layer_norm1 = register_module("layer_norm1", layer_norm(c));
  mlp = register_module("mlp", ClipMlp(c));
  layer_norm2 = register_module("layer_norm2", layer_norm(c));
}

torch::Tensor ClipEncoderLayerImpl::forward(torch::Tensor x) {
  x = x + self_attn(layer_norm1(x));
  return x + mlp(layer_norm2(x));
}

ClipEncoderImpl::ClipEncoderImpl(const VisionConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(ClipEncoderLayer(c));
}

ClipVisionImpl::ClipVisionImpl(const VisionConfig& c) : config(c) {
  embeddings = register_module("embeddings", ClipEmbeddings(c));
  pre_layrnorm = register_module("pre_layrnorm", layer_norm(c));
  encoder = register_module("encoder", ClipEncoder(c));
  post_layernorm = register_module("post_layernorm", layer_norm(c));
}

torch::Tensor ClipVisionImpl::forward(const torch::Tensor& pixels) {
  auto x = pre_layrnorm(embeddings(pixels));
  for (const auto& layer : *encoder->layers) x = layer->as<ClipEncoderLayerImpl>()->forward(x);
  return x;
}

}  // namespace vrwkv
