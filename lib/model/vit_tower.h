// A timm VisionTransformer as v7's DINOv2 (with registers) and SigLIP towers use it (SPEC-v7
// section 5): pre-norm blocks, LayerNorm eps 1e-6, exact GELU, a qkv bias, an optional LayerScale,
// the position embedding on the patch tokens only. Names are timm's, so a timm file loads by name.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace vrwkv {

struct VitTowerConfig {
  std::string name;  // for errors and logs: "dino", "siglip"
  int64_t width = 1024;
  int64_t depth = 24;  // blocks in the checkpoint; the tower keeps those up to output_block()
  int64_t heads = 16;
  int64_t mlp_width = 4096;
  int64_t patch = 14;
  int64_t image_size = 448;
  bool class_token = true;
  int64_t register_tokens = 0;
  bool layer_scale = false;
  double eps = 1e-6;

  int64_t grid_side() const { return image_size / patch; }
  int64_t num_patches() const { return grid_side() * grid_side(); }
  int64_t prefix_tokens() const { return (class_token ? 1 : 0) + register_tokens; }
  // get_intermediate_layers(n = {depth - 2}): the block two from the end is the output.
  int64_t output_block() const { return depth - 2; }
};

// timm vit_large_patch14_reg4_dinov2.lvd142m at img_size 448.
VitTowerConfig dinov2_large_reg4_config();
// timm vit_so400m_patch14_siglip_384 at img_size 448 (its MAP head is not used).
VitTowerConfig siglip_so400m_config();

struct VitAttentionImpl : torch::nn::Module {
  VitAttentionImpl(int64_t width, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // [B, L, D]

  int64_t heads;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(VitAttention);

// The towers' MLP: linear, exact GELU, linear. timm names the linears fc1 / fc2, SAM lin1 / lin2.
struct GeluMlpImpl : torch::nn::Module {
  GeluMlpImpl(int64_t width, int64_t hidden, const std::string& in_name = "fc1", const std::string& out_name = "fc2");
  torch::Tensor forward(const torch::Tensor& x) { return out(torch::gelu(in(x))); }

  torch::nn::Linear in{nullptr}, out{nullptr};
};
TORCH_MODULE(GeluMlp);

// timm's LayerScale: a per-channel gain on each residual branch.
struct LayerScaleImpl : torch::nn::Module {
  explicit LayerScaleImpl(int64_t width);
  torch::Tensor forward(const torch::Tensor& x) { return x * gamma; }

  torch::Tensor gamma;
};
TORCH_MODULE(LayerScale);

struct VitBlockImpl : torch::nn::Module {
  explicit VitBlockImpl(const VitTowerConfig& config);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  VitAttention attn{nullptr};
  GeluMlp mlp{nullptr};
  LayerScale ls1{nullptr}, ls2{nullptr};  // null without layer_scale
};
TORCH_MODULE(VitBlock);

struct VitPatchEmbedImpl : torch::nn::Module {
  explicit VitPatchEmbedImpl(const VitTowerConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B, 3, S, S] -> [B, P, D], row-major patches

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(VitPatchEmbed);

struct VitTowerImpl : torch::nn::Module {
  explicit VitTowerImpl(const VitTowerConfig& config);
  // pixels [B, 3, S, S] -> the output of block output_block(), prefix tokens dropped: [B, P, D].
  // The blocks after it and the final norm are never run, so the tower does not hold them.
  torch::Tensor forward(const torch::Tensor& pixels);

  VitTowerConfig config;
  VitPatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;  // [1, 1, D], undefined without a class token
  torch::Tensor reg_token;  // [1, R, D], undefined without registers
  torch::Tensor pos_embed;  // [1, P, D]: patches only (no_embed_class)
  torch::nn::ModuleList blocks;
};
TORCH_MODULE(VitTower);

// timm's resample_abs_pos_embed for a patch-only embedding: [1, n*n, D] (a square grid, row-major)
// -> [1, side*side, D], bicubic with antialias and align_corners false, computed in float32 and
// returned in the input's dtype. An embedding already of that size is returned as is.
torch::Tensor resample_position_embedding(const torch::Tensor& pos_embed, int64_t side);

}  // namespace vrwkv
