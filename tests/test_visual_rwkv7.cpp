// VisualRWKV-7 assembled (SPEC-v7 sections 5-8): towers -> adaptive pooling -> projector -> K
// placeholders per image overwritten in emb(ids) -> RWKV-7 -> v6's loss through the chunked loss. No
// fixture of the original's v7 exists yet: the whole model is checked against a float64 reference
// composed of the references of each part (towers, pooling, projector formula, placement by hand,
// rwkv7_reference.h's LM, the loss by its definition), logits, loss and every trained gradient.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "model/loss.h"
#include "model/visual_rwkv7.h"
#include "rwkv7_reference.h"
#include "tensor_compare.h"
#include "tiny_models7.h"
#include "vision_towers7_reference.h"

namespace {

using namespace vrwkv;
using test::relative_error;

constexpr int64_t kImg = kV7ImagePlaceholderId;

VisualRwkv7Config tiny_config(Projector7 projector, int64_t K) {
  VisualRwkv7Config c;
  c.rwkv = test::small_rwkv7_config();
  c.towers = test::tiny_towers();
  c.projector = projector;
  c.tokens_per_image = K;
  return c;
}

// A tiny model with every parameter random (towers U(-0.5, 0.5), the LM as rwkv7's tests draw it).
VisualRWKV7 random_model(Projector7 projector, int64_t K, uint64_t seed) {
  torch::manual_seed(seed);
  VisualRWKV7 model(tiny_config(projector, K));
  test::randomise_uniform(*model->vit);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters())
      if (p.key().rfind("proj.", 0) == 0) p.value().uniform_(-0.3, 0.3);
  }
  if (projector == Projector7::kGatedMlp) {
    torch::NoGradGuard no_grad;
    model->proj_mlp->ln_v->weight.add_(1.0);  // a gain around 1, as after training
  }
  test::randomize_rwkv7(*model, seed + 1, "rwkv.");
  return model;
}

TowerPixels random_pixels(int64_t n, torch::ScalarType dtype) {
  return {torch::randn({n, 3, 6, 6}, dtype), torch::randn({n, 3, 9, 9}, dtype), torch::randn({n, 3, 12, 12}, dtype)};
}

// The parameters under `prefix`, the prefix removed, in float64.
test::Params params_under(VisualRWKV7& model, const std::string& prefix) {
  test::Params p;
  for (auto& item : model->named_parameters())
    if (item.key().rfind(prefix, 0) == 0) p[item.key().substr(prefix.size())] = item.value();
  return p;
}

// One image's K projected tokens [K, C], from the float64 references of each tower.
torch::Tensor reference_image_tokens(VisualRWKV7& model, const test::Params& proj, const TowerPixels& pixels,
                                     int64_t n) {
  const auto& c = model->config.towers;
  auto to64 = [](test::Params p) {
    for (auto& [k, v] : p) v = v.to(torch::kFloat64);
    return p;
  };
  const auto dino = test::reference_vit_tower(
      pixels.dino[n].to(torch::kFloat64), to64(params_under(model, "vit.dino_featurizer.")), c.dino.patch, c.dino.heads,
      c.dino.output_block(), c.dino.register_tokens, c.dino.class_token, c.dino.layer_scale, c.dino.eps);
  const auto siglip = test::reference_vit_tower(pixels.siglip[n].to(torch::kFloat64),
                                                to64(params_under(model, "vit.siglip_featurizer.")), c.siglip.patch,
                                                c.siglip.heads, c.siglip.output_block(), c.siglip.register_tokens,
                                                c.siglip.class_token, c.siglip.layer_scale, c.siglip.eps);
  const auto sam =
      test::reference_sam_encoder(pixels.sam[n].to(torch::kFloat64), to64(params_under(model, "vit.sam_featurizer.")),
                                  c.sam.patch, c.sam.heads, c.sam.window, c.sam.global_blocks, c.sam.depth, c.sam.eps);
  const auto features = torch::cat({dino, siglip, sam}, 1);  // [9, 30]: [DINOv2 | SigLIP | SAM]
  const int64_t s = static_cast<int64_t>(std::llround(std::sqrt(double(model->config.tokens_per_image))));
  const auto x = test::reference_adaptive_pool(features.unsqueeze(0), s)[0];
  auto P = [&](const std::string& name) { return proj.at(name).to(torch::kFloat64); };
  if (model->config.projector == Projector7::kLinear) return x.matmul(P("weight").t());
  const auto gated = x * torch::sigmoid(x.matmul(P("gate.weight").t()));
  return test::layer_norm_ref(gated.matmul(P("o_proj.weight").t()), P("ln_v.weight"), P("ln_v.bias"), 1e-5);
}

// emb(ids) with each run of K placeholders, in row-major order, replaced by the next image's tokens.
torch::Tensor reference_embeds(const torch::Tensor& emb, const torch::Tensor& ids,
                               const std::vector<torch::Tensor>& images, int64_t K) {
  const int64_t B = ids.size(0), T = ids.size(1);
  std::vector<torch::Tensor> rows;
  size_t next = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t id = ids[b][t].item<int64_t>();
      if (id != kImg) {
        rows.push_back(emb[id]);
        continue;
      }
      REQUIRE(next < images.size());
      for (int64_t j = 0; j < K; ++j) rows.push_back(images[next][j]);
      t += K - 1;
      ++next;
    }
  REQUIRE(next == images.size());
  return torch::stack(rows).view({B, T, -1});
}

// SPEC-v7 section 8 by its definition: per sample, the mean cross entropy of logits[t] against
// labels[t + 1] over the valid labels, then the batch mean.
torch::Tensor reference_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t B = logits.size(0), T = logits.size(1);
  const auto logp = torch::log_softmax(logits, -1);
  std::vector<torch::Tensor> per_sample;
  for (int64_t b = 0; b < B; ++b) {
    auto sum = torch::zeros({}, logits.options());
    int64_t count = 0;
    for (int64_t t = 0; t + 1 < T; ++t) {
      const int64_t y = labels[b][t + 1].item<int64_t>();
      if (y == -100) continue;
      sum = sum - logp[b][t][y];
      ++count;
    }
    per_sample.push_back(sum / double(std::max<int64_t>(count, 1)));
  }
  return torch::stack(per_sample).mean();
}

// L2Wrap's backward as a term whose gradient it is: factor * max^2 / 2 has the derivative factor *
// max on each position's arg-max logit.
torch::Tensor l2wrap_term(const torch::Tensor& logits) {
  const double factor = kL2WrapFactor / double(logits.size(0) * logits.size(1));
  return 0.5 * factor * std::get<0>(logits.max(-1)).square().sum();
}

// Two samples of T = 12 + 2K (20 for K 4, padded by 12 in front; 30 for K 9, padded by 2): two
// images between text, then text only.
struct TinyBatch {
  torch::Tensor ids, labels;
  int64_t images = 0;
};

TinyBatch tiny_batch(int64_t K) {
  std::vector<int64_t> a = {11, 12, 13, 14, 15};
  a.insert(a.end(), K, kImg);
  a.insert(a.end(), {16, 17});
  a.insert(a.end(), K, kImg);
  const int64_t T = 12 + 2 * K;
  while (int64_t(a.size()) < T) a.push_back(20 + int64_t(a.size()));
  std::vector<int64_t> b;
  for (int64_t t = 0; t < T; ++t) b.push_back(40 + 7 * t);
  TinyBatch out;
  out.ids = torch::tensor(a, torch::kInt64).view({1, T});
  out.ids = torch::cat({out.ids, torch::tensor(b, torch::kInt64).view({1, T})});
  out.labels = out.ids.clone();
  out.labels.masked_fill_(out.ids == kImg, -100);  // images sit in human turns
  out.labels.narrow(1, 0, 3).fill_(-100);          // and so does the prompt's start
  out.labels[1].narrow(0, 10, 4).fill_(-100);
  out.images = 2;
  return out;
}

}  // namespace

TEST_CASE("VisualRWKV-7 is registered under the original's checkpoint names", "[visual7]") {
  auto mlp = random_model(Projector7::kGatedMlp, 4, 1);
  const auto names = mlp->named_parameters();
  for (const char* name :
       {"rwkv.emb.weight", "rwkv.blocks.0.att.r_k", "rwkv.head.weight", "vit.dino_featurizer.cls_token",
        "vit.siglip_featurizer.pos_embed", "vit.sam_featurizer.neck.3.weight", "proj.gate.weight", "proj.o_proj.weight",
        "proj.ln_v.weight", "proj.ln_v.bias"}) {
    INFO(name);
    CHECK(names.contains(name));
  }
  CHECK(names["proj.gate.weight"].sizes() == torch::IntArrayRef({30, 30}));
  CHECK(names["proj.o_proj.weight"].sizes() == torch::IntArrayRef({32, 30}));
  CHECK_FALSE(names.contains("proj.gate.bias"));
  for (const auto& item : names) {
    INFO(item.key());
    CHECK(item.value().requires_grad() == (item.key().rfind("vit.", 0) != 0));  // the towers are frozen
  }
  auto linear = random_model(Projector7::kLinear, 4, 1);
  const auto linear_names = linear->named_parameters();
  CHECK(linear_names["proj.weight"].sizes() == torch::IntArrayRef({32, 30}));
  CHECK_FALSE(linear_names.contains("proj.bias"));
  CHECK_FALSE(linear_names.contains("proj.gate.weight"));
  CHECK(projector7_from_string("mlp", "x") == Projector7::kGatedMlp);
  CHECK(projector7_from_string("linear", "x") == Projector7::kLinear);
  CHECK_THROWS_WITH(projector7_from_string("conv", "cfg.json: model.projector"),
                    test::contains("cfg.json: model.projector: projector must be \"mlp\" or \"linear\""));
  auto bad = tiny_config(Projector7::kGatedMlp, 5);
  CHECK_THROWS_WITH(VisualRWKV7(bad), test::contains("num_token_per_image 5 must be a square"));
}

TEST_CASE("VisualRWKV-7 logits, loss and trained gradients equal the float64 reference", "[visual7]") {
  for (const auto projector : {Projector7::kGatedMlp, Projector7::kLinear}) {
    // K 4 pools the 3x3 grid in overlapping 2x2 bins; K 9 keeps it whole.
    for (const int64_t K : {int64_t{4}, int64_t{9}}) {
      INFO("projector " << to_string(projector) << ", K " << K);
      auto model = random_model(projector, K, 21);
      model->to(torch::kFloat64);
      torch::manual_seed(22);
      const auto batch = tiny_batch(K);
      const auto pixels = random_pixels(batch.images, torch::kFloat64);

      // The model: the chunked loss on ln_out's states, backward into the trained parameters.
      const auto hidden = model->forward_hidden(model->embed(batch.ids, model->encode_images(pixels)));
      const auto loss = chunked_training_loss(hidden, model->rwkv->head->weight, batch.labels, 7);
      loss.backward();

      // The reference, on detached float64 copies of the same parameters.
      test::Params rwkv, proj;
      for (auto& [k, v] : params_under(model, "rwkv.")) rwkv[k] = v.detach().clone().requires_grad_(true);
      for (auto& [k, v] : params_under(model, "proj.")) proj[k] = v.detach().clone().requires_grad_(true);
      std::vector<torch::Tensor> images;
      for (int64_t n = 0; n < batch.images; ++n) images.push_back(reference_image_tokens(model, proj, pixels, n));
      const auto embeds = reference_embeds(rwkv.at("emb.weight"), batch.ids, images, K);
      const auto logits = test::reference_rwkv7(rwkv, embeds, model->config.rwkv.n_layer, model->config.rwkv.head_size);
      const auto expected = reference_loss(logits, batch.labels);
      (expected + l2wrap_term(logits)).backward();

      {
        torch::NoGradGuard no_grad;
        CHECK(relative_error(model->rwkv->head(hidden), logits) < 1e-10);
        CHECK(relative_error(model->forward(batch.ids, pixels), logits) < 1e-10);
      }
      CHECK(std::abs(loss.item<double>() - expected.item<double>()) < 1e-10 * expected.item<double>());
      int64_t compared = 0;
      for (auto& item : model->named_parameters()) {
        const auto& name = item.key();
        INFO(name);
        if (name.rfind("vit.", 0) == 0) {
          CHECK_FALSE(item.value().grad().defined());  // frozen towers get no gradient
          continue;
        }
        const auto& ref = name.rfind("rwkv.", 0) == 0 ? rwkv.at(name.substr(5)) : proj.at(name.substr(5));
        REQUIRE(item.value().grad().defined());
        REQUIRE(ref.grad().norm().item<double>() > 0);
        CHECK(relative_error(item.value().grad(), ref.grad()) < 1e-9);
        ++compared;
      }
      CHECK(compared == int64_t(rwkv.size() + proj.size()));

      // The same weights in float32: the fixtures' float32 logits tolerance.
      model->to(torch::kFloat32);
      torch::NoGradGuard no_grad;
      const TowerPixels pixels32{pixels.dino.to(torch::kFloat32), pixels.siglip.to(torch::kFloat32),
                                 pixels.sam.to(torch::kFloat32)};
      const auto logits32 = model->forward(batch.ids, pixels32);
      CHECK(relative_error(logits32, logits.detach()) < 1e-4);
    }
  }
}

TEST_CASE("VisualRWKV-7 text-only batches get no image tokens; a batch whose placeholders are cut is refused",
          "[visual7]") {
  auto model = random_model(Projector7::kGatedMlp, 4, 31);
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  const auto none = model->encode_images(TowerPixels{});
  CHECK(none.sizes() == torch::IntArrayRef({0, 4, 32}));
  const auto ids = torch::arange(1, 41, torch::kInt64).view({2, 20});
  const auto embeds = model->embed(ids, none);
  CHECK(torch::equal(embeds, model->rwkv->emb(ids)));  // text only: the embeddings untouched

  auto cut = tiny_batch(4).ids;
  cut[0][7] = 5;  // the first image's run of 4 loses one placeholder
  const auto pixels = random_pixels(2, torch::kFloat64);
  CHECK_THROWS_WITH(model->embed(cut, model->encode_images(pixels)), test::contains("image placeholder ids"));
  const TowerPixels uneven{pixels.dino, pixels.siglip.narrow(0, 0, 1), pixels.sam};
  CHECK_THROWS_WITH(model->encode_images(uneven), test::contains("2 images for dino but 1 for siglip"));
}

TEST_CASE("VisualRWKV-7 towers record a graph only when trained (train.train_vision, the demo's)", "[visual7]") {
  auto model = random_model(Projector7::kGatedMlp, 4, 51);
  torch::manual_seed(52);
  const auto batch = tiny_batch(4);
  const auto pixels = random_pixels(batch.images, torch::kFloat32);
  CHECK_FALSE(model->vit->forward(pixels).requires_grad());  // frozen, as the original's
  for (auto& p : model->vit->parameters()) p.requires_grad_(true);
  const auto hidden = model->forward_hidden(model->embed(batch.ids, model->encode_images(pixels)));
  chunked_training_loss(hidden, model->rwkv->head->weight, batch.labels).backward();
  for (const char* name : {"vit.dino_featurizer.blocks.0.attn.qkv.weight", "vit.siglip_featurizer.patch_embed.proj.weight",
                           "vit.sam_featurizer.neck.0.weight"}) {
    INFO(name);
    const auto& grad = model->named_parameters()[name].grad();
    REQUIRE(grad.defined());
    CHECK(grad.abs().sum().item<double>() > 0);
  }
}
