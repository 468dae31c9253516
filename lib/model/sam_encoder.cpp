#include "model/sam_encoder.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace vrwkv {
namespace {

torch::nn::LayerNorm norm(const SamEncoderConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.width}).eps(c.eps));
}

// R[i, j] = rel_pos[i - j + side - 1]: the embedding of each query-key offset along one axis
// (get_rel_pos when queries and keys span the same side, as in every SAM block).
torch::Tensor offsets_table(const torch::Tensor& rel_pos, int64_t side) {
  VRWKV_CHECK(rel_pos.size(0) == 2 * side - 1,
              cat("SAM attention: a relative position table of ", rel_pos.size(0), " rows for a side of ", side,
                  " (needs ", 2 * side - 1, ")"));
  const auto i = torch::arange(side, torch::TensorOptions().dtype(torch::kLong).device(rel_pos.device()));
  const auto index = i.unsqueeze(1) - i.unsqueeze(0) + (side - 1);
  return rel_pos.index_select(0, index.flatten()).view({side, side, rel_pos.size(1)});
}

// [B, H, W, D] -> [B * windows, w, w, D], zero-padding the bottom and right to multiples of w.
torch::Tensor partition_windows(const torch::Tensor& x, int64_t w) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), D = x.size(3);
  const int64_t pad_h = (w - H % w) % w, pad_w = (w - W % w) % w;
  auto padded = (pad_h || pad_w) ? torch::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h}) : x;
  const int64_t Hp = H + pad_h, Wp = W + pad_w;
  return padded.view({B, Hp / w, w, Wp / w, w, D}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, w, w, D});
}

// The inverse of partition_windows, cropping the padding away.
torch::Tensor merge_windows(const torch::Tensor& windows, int64_t w, int64_t B, int64_t H, int64_t W) {
  const int64_t Hp = (H + w - 1) / w * w, Wp = (W + w - 1) / w * w, D = windows.size(3);
  auto x = windows.view({B, Hp / w, Wp / w, w, w, D}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, D});
  return x.narrow(1, 0, H).narrow(2, 0, W);
}

}  // namespace

bool SamEncoderConfig::is_global(int64_t block) const {
  return std::find(global_blocks.begin(), global_blocks.end(), block) != global_blocks.end();
}

SamEncoderConfig sam_vit_b_config() { return SamEncoderConfig{}; }

SamAttentionImpl::SamAttentionImpl(int64_t width, int64_t heads_, int64_t side_h, int64_t side_w) : heads(heads_) {
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  proj = register_module("proj", torch::nn::Linear(width, width));
  const int64_t hd = width / heads;
  rel_pos_h = register_parameter("rel_pos_h", torch::zeros({2 * side_h - 1, hd}));
  rel_pos_w = register_parameter("rel_pos_w", torch::zeros({2 * side_w - 1, hd}));
}

torch::Tensor SamAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), D = x.size(3), hd = D / heads, L = H * W;
  const auto parts = qkv(x).view({B, L, 3, heads, hd}).permute({2, 0, 3, 1, 4});  // [3, B, heads, L, hd]
  const auto q = parts[0], k = parts[1], v = parts[2];
  auto attn = torch::matmul(q * (1.0 / std::sqrt(double(hd))), k.transpose(-2, -1));  // [B, heads, L, L]
  // The relative terms use the unscaled query (add_decomposed_rel_pos).
  const auto q_map = q.reshape({B, heads, H, W, hd});
  const auto rel_h = torch::einsum("bnhwc,hkc->bnhwk", {q_map, offsets_table(rel_pos_h, H)});
  const auto rel_w = torch::einsum("bnhwc,wkc->bnhwk", {q_map, offsets_table(rel_pos_w, W)});
  attn = (attn.view({B, heads, H, W, H, W}) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).view({B, heads, L, L});
  const auto out = torch::matmul(torch::softmax(attn, -1), v);  // [B, heads, L, hd]
  return proj(out.view({B, heads, H, W, hd}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, D}));
}

SamBlockImpl::SamBlockImpl(const SamEncoderConfig& c, int64_t index) : window(c.is_global(index) ? 0 : c.window) {
  const int64_t side = window > 0 ? window : c.grid_side();
  norm1 = register_module("norm1", norm(c));
  attn = register_module("attn", SamAttention(c.width, c.heads, side, side));
  norm2 = register_module("norm2", norm(c));
  mlp = register_module("mlp", GeluMlp(c.width, c.mlp_width, "lin1", "lin2"));
}

torch::Tensor SamBlockImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  auto h = norm1(x);
  // Padded positions are zeros after the norm; they take part as keys, as in the original.
  h = window > 0 ? merge_windows(attn(partition_windows(h, window)), window, B, H, W) : attn(h);
  const auto y = x + h;
  return y + mlp(norm2(y));
}

SamPatchEmbedImpl::SamPatchEmbedImpl(const SamEncoderConfig& c) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, c.width, c.patch).stride(c.patch)));
}

torch::Tensor SamPatchEmbedImpl::forward(const torch::Tensor& pixels) {
  return proj(pixels.to(proj->weight.dtype())).permute({0, 2, 3, 1});
}

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  const auto centred = x - x.mean(1, true);
  const auto normed = centred / torch::sqrt(centred.pow(2).mean(1, true) + eps);
  return normed * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
}

SamEncoderImpl::SamEncoderImpl(const SamEncoderConfig& c) : config(c) {
  VRWKV_CHECK(c.grid_side() % 2 == 0, cat("SAM tower: a patch grid of ", c.grid_side(), " cannot be halved"));
  VRWKV_CHECK(c.width % c.heads == 0, cat("SAM tower: width ", c.width, " is not a multiple of heads ", c.heads));
  patch_embed = register_module("patch_embed", SamPatchEmbed(c));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, c.grid_side(), c.grid_side(), c.width}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) blocks->push_back(SamBlock(c, i));
  namespace nn = torch::nn;
  neck = register_module(
      "neck", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(c.width, c.neck_channels, 1).bias(false)),
                             LayerNorm2d(c.neck_channels, c.eps),
                             nn::Conv2d(nn::Conv2dOptions(c.neck_channels, c.neck_channels, 3).padding(1).bias(false)),
                             LayerNorm2d(c.neck_channels, c.eps)));
}

torch::Tensor SamEncoderImpl::forward(const torch::Tensor& pixels) {
  VRWKV_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == config.image_size &&
                  pixels.size(3) == config.image_size,
              "sam tower: pixels must be [B, 3, ", config.image_size, ", ", config.image_size, "], got ",
              pixels.sizes());
  auto x = patch_embed(pixels) + pos_embed;
  for (const auto& block : *blocks) x = block->as<SamBlockImpl>()->forward(x);
  const auto map = space_to_depth(neck->forward(x.permute({0, 3, 1, 2})));  // [B, 4C, G/2, G/2]
  return map.flatten(2).transpose(1, 2);
}

torch::Tensor space_to_depth(const torch::Tensor& map) {
  VRWKV_CHECK(map.dim() == 4 && map.size(2) % 2 == 0 && map.size(3) % 2 == 0,
              "space_to_depth: needs [B, C, H, W] with even H and W, got ", map.sizes());
  const int64_t B = map.size(0), C = map.size(1), H = map.size(2), W = map.size(3);
  return map.reshape({B, C, H / 2, 2, W / 2, 2}).permute({0, 1, 3, 5, 2, 4}).reshape({B, 4 * C, H / 2, W / 2});
}

}  // namespace vrwkv
