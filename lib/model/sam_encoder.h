// SAM's image encoder (Meta's ImageEncoderViT, ViT-B), v7's third tower (SPEC-v7 section 5):
// windowed attention with zero padding, global attention in a few blocks, decomposed relative
// positions, the neck, then the lossless space-to-depth that brings its 64x64 map to the 32x32
// grid the other towers use. Names are those of Meta's file with `image_encoder.` removed.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "model/vit_tower.h"

namespace vrwkv {

struct SamEncoderConfig {
  int64_t width = 768;
  int64_t depth = 12;
  int64_t heads = 12;
  int64_t mlp_width = 3072;
  int64_t patch = 16;
  int64_t image_size = 1024;
  int64_t window = 14;
  std::vector<int64_t> global_blocks{2, 5, 8, 11};
  int64_t neck_channels = 256;
  double eps = 1e-6;

  int64_t grid_side() const { return image_size / patch; }   // 64
  int64_t output_side() const { return grid_side() / 2; }    // 32, after space-to-depth
  int64_t output_channels() const { return 4 * neck_channels; }  // 1024
  bool is_global(int64_t block) const;
};

// SAM ViT-B as build_sam_vit_b makes it.
SamEncoderConfig sam_vit_b_config();

// Attention over a [B, h, w, D] map (a window, or the whole map) with SAM's decomposed relative
// positions: rel_pos_h / rel_pos_w are [2*h-1, hd] / [2*w-1, hd].
struct SamAttentionImpl : torch::nn::Module {
  SamAttentionImpl(int64_t width, int64_t heads, int64_t side_h, int64_t side_w);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t heads;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor rel_pos_h, rel_pos_w;
};
TORCH_MODULE(SamAttention);

struct SamBlockImpl : torch::nn::Module {
  SamBlockImpl(const SamEncoderConfig& config, int64_t index);
  torch::Tensor forward(const torch::Tensor& x);  // [B, H, W, D]

  int64_t window;  // 0 in a global block
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SamAttention attn{nullptr};
  GeluMlp mlp{nullptr};  // lin1, lin2
};
TORCH_MODULE(SamBlock);

struct SamPatchEmbedImpl : torch::nn::Module {
  explicit SamPatchEmbedImpl(const SamEncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B, 3, S, S] -> [B, G, G, D]

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(SamPatchEmbed);

// SAM's LayerNorm2d: a LayerNorm over the channels of each pixel of [B, C, H, W].
struct LayerNorm2dImpl : torch::nn::Module {
  LayerNorm2dImpl(int64_t channels, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  double eps;
  torch::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm2d);

struct SamEncoderImpl : torch::nn::Module {
  explicit SamEncoderImpl(const SamEncoderConfig& config);
  // pixels [B, 3, S, S] -> the neck's map after space-to-depth, flattened row-major: [B, (S/32)^2, 4*256].
  torch::Tensor forward(const torch::Tensor& pixels);

  SamEncoderConfig config;
  SamPatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;                 // [1, G, G, D]
  torch::nn::ModuleList blocks;
  torch::nn::Sequential neck;  // 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d
};
TORCH_MODULE(SamEncoder);

// The LosslessDownSampler: [B, C, H, W] -> [B, 4C, H/2, W/2], out[4c + 2dy + dx, y, x] = in[c, 2y+dy, 2x+dx].
torch::Tensor space_to_depth(const torch::Tensor& map);

}  // namespace vrwkv
