#include "model/vit_tower.h"

#include <cmath>

#include "base/error.h"

namespace vrwkv {
namespace {

torch::nn::LayerNorm norm(const VitTowerConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.width}).eps(c.eps));
}

}  // namespace

VitTowerConfig dinov2_large_reg4_config() {
  VitTowerConfig c;
  c.name = "dino";
  c.width = 1024, c.depth = 24, c.heads = 16, c.mlp_width = 4096, c.patch = 14, c.image_size = 448;
  c.class_token = true, c.register_tokens = 4, c.layer_scale = true;
  return c;
}

VitTowerConfig siglip_so400m_config() {
  VitTowerConfig c;
  c.name = "siglip";
  c.width = 1152, c.depth = 27, c.heads = 16, c.mlp_width = 4304, c.patch = 14, c.image_size = 448;
  c.class_token = false, c.register_tokens = 0, c.layer_scale = false;
  return c;
}

VitAttentionImpl::VitAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  proj = register_module("proj", torch::nn::Linear(width, width));
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), hd = D / heads;
  const auto parts = qkv(x).view({B, L, 3, heads, hd}).permute({2, 0, 3, 1, 4});  // [3, B, H, L, hd]
  const auto q = parts[0] * (1.0 / std::sqrt(double(hd)));
  const auto attn = torch::softmax(torch::matmul(q, parts[1].transpose(-2, -1)), -1);
  return proj(torch::matmul(attn, parts[2]).transpose(1, 2).reshape({B, L, D}));
}

GeluMlpImpl::GeluMlpImpl(int64_t width, int64_t hidden, const std::string& in_name, const std::string& out_name) {
  in = register_module(in_name, torch::nn::Linear(width, hidden));
  out = register_module(out_name, torch::nn::Linear(hidden, width));
}

// timm's init_values for DINOv2; a checkpoint overwrites it.
LayerScaleImpl::LayerScaleImpl(int64_t width) { gamma = register_parameter("gamma", torch::full({width}, 1e-5)); }

VitBlockImpl::VitBlockImpl(const VitTowerConfig& c) {
  norm1 = register_module("norm1", norm(c));
  attn = register_module("attn", VitAttention(c.width, c.heads));
  if (c.layer_scale) ls1 = register_module("ls1", LayerScale(c.width));
  norm2 = register_module("norm2", norm(c));
  mlp = register_module("mlp", GeluMlp(c.width, c.mlp_width));
  if (c.layer_scale) ls2 = register_module("ls2", LayerScale(c.width));
}

torch::Tensor VitBlockImpl::forward(torch::Tensor x) {
  auto a = attn(norm1(x));
  x = x + (ls1 ? ls1(a) : a);
  auto m = mlp(norm2(x));
  return x + (ls2 ? ls2(m) : m);
}

VitPatchEmbedImpl::VitPatchEmbedImpl(const VitTowerConfig& c) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.width, c.patch).stride(c.patch)));
}

torch::Tensor VitPatchEmbedImpl::forward(const torch::Tensor& pixels) {
  return proj(pixels.to(proj->weight.dtype())).flatten(2).transpose(1, 2);
}

VitTowerImpl::VitTowerImpl(const VitTowerConfig& c) : config(c) {
  VRWKV_CHECK(c.depth >= 2, cat(c.name, " tower: depth ", c.depth, " has no block two from the end"));
  VRWKV_CHECK(c.width % c.heads == 0, cat(c.name, " tower: width ", c.width, " is not a multiple of heads ", c.heads));
  patch_embed = register_module("patch_embed", VitPatchEmbed(c));
  if (c.class_token) cls_token = register_parameter("cls_token", torch::randn({1, 1, c.width}) * 0.02);
  if (c.register_tokens > 0)
    reg_token = register_parameter("reg_token", torch::randn({1, c.register_tokens, c.width}) * 0.02);
  pos_embed = register_parameter("pos_embed", torch::randn({1, c.num_patches(), c.width}) * 0.02);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i <= c.output_block(); ++i) blocks->push_back(VitBlock(c));
}

torch::Tensor VitTowerImpl::forward(const torch::Tensor& pixels) {
  VRWKV_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == config.image_size &&
                  pixels.size(3) == config.image_size,
              cat(config.name, " tower: pixels must be [B, 3, ", config.image_size, ", ", config.image_size,
                  "], got ", pixels.sizes()));
  auto x = patch_embed(pixels) + pos_embed;
  const int64_t B = x.size(0);
  std::vector<torch::Tensor> parts;
  if (cls_token.defined()) parts.push_back(cls_token.expand({B, -1, -1}));
  if (reg_token.defined()) parts.push_back(reg_token.expand({B, -1, -1}));
  parts.push_back(x);
  x = torch::cat(parts, 1);
  for (const auto& block : *blocks) x = block->as<VitBlockImpl>()->forward(x);
  return x.narrow(1, config.prefix_tokens(), config.num_patches());
}

torch::Tensor resample_position_embedding(const torch::Tensor& pos_embed, int64_t side) {
  VRWKV_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1,
              cat("position embedding must be [1, n*n, D], got ", pos_embed.sizes()));
  const int64_t n = pos_embed.size(1), D = pos_embed.size(2);
  const auto old_side = int64_t(std::llround(std::sqrt(double(n))));
  VRWKV_CHECK(old_side * old_side == n, cat("position embedding of ", n, " tokens is not a square grid"));
  if (old_side == side) return pos_embed;
  namespace F = torch::nn::functional;
  const auto grid = pos_embed.to(torch::kFloat32).reshape({1, old_side, old_side, D}).permute({0, 3, 1, 2});
  const auto resized = F::interpolate(grid, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{side, side})
                                                .mode(torch::kBicubic)
                                                .align_corners(false)
                                                .antialias(true));
  return resized.permute({0, 2, 3, 1}).reshape({1, side * side, D}).to(pos_embed.dtype());
}

}  // namespace vrwkv
