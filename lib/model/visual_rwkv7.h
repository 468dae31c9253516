// VisualRWKV-7 (SPEC-v7 sections 5-7): the three frozen towers' 3200-channel features of every image
// of a batch -> adaptive pooling to K tokens -> the projector ("mlp": gated, or "linear") -> the K
// placeholder ids of each image overwritten in emb(ids) -> RWKV-7, one left-to-right pass (v7 has no
// scan modes). Registered as the original's state dict names it: rwkv.*, vit.{dino,siglip,sam}_featurizer.*,
// proj.*; the loss is v6's, through chunked_training_loss on forward_hidden.
#pragma once
#include <torch/torch.h>

#include <string>

#include "model/config7.h"
#include "model/gated_projector.h"
#include "model/image_placement.h"
#include "model/rwkv7.h"
#include "model/vision_towers7.h"

namespace vrwkv {

struct VisualRWKV7Impl : torch::nn::Module {
  explicit VisualRWKV7Impl(const VisualRwkv7Config& config);

  // The N images of a batch, in sample order (on any device) -> their projected tokens [N, K, C] on
  // the model's. The towers run without autograd; the pooled features are cast to the projector's
  // dtype. N = 0 gives [0, K, C].
  torch::Tensor encode_images(const TowerPixels& pixels);
  // emb(input_ids) [B, T, C] with image n's tokens over the n-th run of K placeholder ids. input_ids
  // [B, T] int64 on the CPU (the plan is read there); image_tokens [images, K, C].
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& image_tokens);
  // ln_out's states [B, T, C] for chunked_training_loss (the head applied there, chunk by chunk).
  torch::Tensor forward_hidden(const torch::Tensor& embeds);
  // Logits [B, T, V]: encode, embed, forward, head. For tests and small inputs.
  torch::Tensor forward(const torch::Tensor& input_ids, const TowerPixels& pixels);

  // Projected image tokens from pooled tower features [N, K, embed_dim].
  torch::Tensor project(const torch::Tensor& pooled);

  VisualRwkv7Config config;
  RWKV7 rwkv{nullptr};
  VisionTowers7 vit{nullptr};
  GatedProjector proj_mlp{nullptr};      // registered as "proj" when the projector is "mlp"
  torch::nn::Linear proj_linear{nullptr};  // registered as "proj" when it is "linear" (no bias)
};
TORCH_MODULE(VisualRWKV7);

// The number of images a TowerPixels holds (0 when its tensors are undefined or empty); the three
// towers must agree.
int64_t image_count(const TowerPixels& pixels);

// The images of several TowerPixels in order, one tensor per tower ([N, 3, S, S] each); those that
// hold none are passed over, and with no image at all the tensors are undefined.
TowerPixels concat_tower_pixels(const std::vector<TowerPixels>& images);

}  // namespace vrwkv
