#include "model/visual_rwkv.h"

#include <cmath>
#include <optional>

#include "base/error.h"

namespace vrwkv {

torch::Tensor pool_image_features(const torch::Tensor& features, int64_t grid_size) {
  using torch::indexing::Slice;
  const auto cls = features.index({Slice(), Slice(0, 1)});
  const auto patches = features.index({Slice(), Slice(1, torch::indexing::None)});
  if (grid_size == -1) return torch::cat({patches, cls}, 1);
  if (grid_size == 0) return cls;
  if (grid_size == 1) return torch::cat({patches.mean(1, /*keepdim=*/true), cls}, 1);
  const int64_t B = features.size(0), P = patches.size(1), D = features.size(2);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(P))));
  VRWKV_CHECK(side * side == P && side % grid_size == 0, "grid pooling: ", P, " patches are not a square grid ",
              "divisible by grid_size ", grid_size);
  const int64_t kernel = side / grid_size;
  auto grid = patches.transpose(1, 2).reshape({B, D, side, side});
  auto pooled = torch::avg_pool2d(grid, {kernel, kernel}, {kernel, kernel});  // [B, D, g, g], row-major
  return torch::cat({pooled.flatten(2).transpose(1, 2), cls}, 1);
}

VisualRWKVImpl::VisualRWKVImpl(const ModelConfig& c) : config(c.resolved()) {
  rwkv = register_module("rwkv", RWKV(config));
  vit = register_module("vit", ClipVision(config.vision));
  proj = register_module(
      "proj", torch::nn::Linear(torch::nn::LinearOptions(config.vision.hidden_size, config.n_embd).bias(false)));
}

torch::Tensor VisualRWKVImpl::encode_images(const torch::Tensor& images) {
  auto pixels = images.dim() == 5 ? images.flatten(0, 1) : images;
  VRWKV_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == config.vision.image_size &&
                  pixels.size(3) == config.vision.image_size,
              "images must be [B, 3, ", config.vision.image_size, ", ", config.vision.image_size, "], got ",
              images.sizes());
  bool vision_trained = false;
  for (const auto& p : vit->parameters()) vision_trained |= p.requires_grad();
  torch::Tensor features;
  {
    // A frozen tower needs no graph: this saves its activations and the host-side bookkeeping.
    std::optional<torch::NoGradGuard> frozen;
    if (!vision_trained) frozen.emplace();
    features = pool_image_features(vit(pixels), config.grid_size);
  }
  return proj(features.to(proj->weight.dtype()));
}

Embedded VisualRWKVImpl::embed(const torch::Tensor& input_ids, const torch::Tensor& labels,
                               const torch::Tensor& image_features, int64_t ctx_len) {
  const int64_t K = image_features.size(1), C = image_features.size(2);
  Embedded out{{}, plan_sequence(input_ids, labels, K, ctx_len)};
  const auto& layout = out.layout;
  const auto device = image_features.device();
  // The image table: every sample's K embeddings, then one zero row for padding and text-only samples.
  const auto table = torch::cat({image_features.reshape({-1, C}), torch::zeros({1, C}, image_features.options())});
  const auto from_image = table.index_select(0, layout.image_rows.to(device).flatten());
  const auto from_text = rwkv->emb(layout.token_ids.to(device).flatten()).to(from_image.dtype());
  const auto is_token = layout.is_token.to(device).flatten().unsqueeze(1);
  out.embeds = torch::where(is_token, from_text, from_image).view({input_ids.size(0), -1, C});
  return out;
}

torch::Tensor VisualRWKVImpl::forward_embeds(const torch::Tensor& embeds, ScanMode mode, int64_t img_start,
                                             int64_t img_end) {
  return rwkv->head(forward_hidden(embeds, mode, img_start, img_end));
}

torch::Tensor VisualRWKVImpl::forward_hidden(const torch::Tensor& embeds, ScanMode mode, int64_t img_start,
                                             int64_t img_end) {
  return rwkv->forward_hidden(embeds, scan_block_order(mode, embeds.size(1), img_start, img_end, embeds.device()));
}

BlockOrder scan_block_order(ScanMode mode, int64_t T, int64_t img_start, int64_t img_end, torch::Device device) {
  scan_order(mode, 0, T, img_start, img_end);  // checks the span before any block runs
  if (mode == ScanMode::kUni || img_end <= img_start) return nullptr;
  return [=](int64_t layer_id) {
    auto gather = scan_order(mode, layer_id, T, img_start, img_end);
    return gather.defined() ? gather.to(device) : gather;
  };
}

}  // namespace vrwkv
