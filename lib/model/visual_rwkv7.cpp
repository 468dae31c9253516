#include "model/visual_rwkv7.h"

#include "base/error.h"
#include "model/image_pool7.h"

namespace vrwkv {

int64_t image_count(const TowerPixels& pixels) {
  auto count = [](const torch::Tensor& t) { return t.defined() ? t.size(0) : 0; };
  const int64_t n = count(pixels.dino);
  VRWKV_CHECK(count(pixels.siglip) == n && count(pixels.sam) == n, "tower pixels: ", n, " images for dino but ",
              count(pixels.siglip), " for siglip and ", count(pixels.sam), " for sam");
  return n;
}

VisualRWKV7Impl::VisualRWKV7Impl(const VisualRwkv7Config& c) : config(c.resolved()) {
  rwkv = register_module("rwkv", RWKV7(config.rwkv));
  vit = register_module("vit", VisionTowers7(config.towers));
  const int64_t in = config.towers.embed_dim(), out = config.rwkv.n_embd;
  if (config.projector == Projector7::kGatedMlp)
    proj_mlp = register_module("proj", GatedProjector(in, out));
  else
    proj_linear = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
}

torch::Tensor VisualRWKV7Impl::project(const torch::Tensor& pooled) {
  const auto& weight = proj_mlp ? proj_mlp->o_proj->weight : proj_linear->weight;
  const auto x = pooled.to(weight.dtype());
  return proj_mlp ? proj_mlp->forward(x) : proj_linear->forward(x);
}

TowerPixels concat_tower_pixels(const std::vector<TowerPixels>& images) {
  std::vector<torch::Tensor> dino, siglip, sam;
  for (const auto& p : images) {
    if (image_count(p) == 0) continue;
    dino.push_back(p.dino);
    siglip.push_back(p.siglip);
    sam.push_back(p.sam);
  }
  if (dino.empty()) return {};
  return {torch::cat(dino), torch::cat(siglip), torch::cat(sam)};
}

torch::Tensor VisualRWKV7Impl::encode_images(const TowerPixels& pixels) {
  const int64_t n = image_count(pixels), K = config.tokens_per_image;
  if (n == 0) {
    const auto& w = rwkv->emb->weight;
    return torch::zeros({0, K, config.rwkv.n_embd}, w.options());
  }
  // The pixels go to the towers' device and dtype (bf16 runs feed bf16 pixels, as Lightning's cast
  // does), so callers hand over pixels from wherever they were made.
  const auto options = vit->dino->patch_embed->proj->weight.options();
  const TowerPixels cast{pixels.dino.to(options), pixels.siglip.to(options), pixels.sam.to(options)};
  const auto features = vit->forward(cast);  // no autograd: the towers are frozen
  return project(pool_image_grid(features, K));
}

torch::Tensor VisualRWKV7Impl::embed(const torch::Tensor& input_ids, const torch::Tensor& image_tokens) {
  const auto plan = plan_image_placement(input_ids, image_tokens.size(0), config.tokens_per_image);
  const auto& table = rwkv->emb->weight;
  // The placeholders' own rows are overwritten; looking them up as id 0 lets a vocabulary smaller
  // than 65536 (the tiny configs) hold them.
  const auto ids = input_ids.masked_fill(input_ids == kV7ImagePlaceholderId, 0);
  const auto embeds = rwkv->emb(ids.to(table.device()));
  return place_image_tokens(embeds, plan, image_tokens.to(table.device()));
}

torch::Tensor VisualRWKV7Impl::forward_hidden(const torch::Tensor& embeds) { return rwkv->forward_hidden(embeds); }

torch::Tensor VisualRWKV7Impl::forward(const torch::Tensor& input_ids, const TowerPixels& pixels) {
  return rwkv->head(forward_hidden(embed(input_ids, encode_images(pixels))));
}

}  // namespace vrwkv
