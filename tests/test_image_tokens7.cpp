// v7's image tokens (SPEC-v7 sections 6-7): the pooling of the 32 x 32 grid to K tokens, the gated MLP
// projector and the placement of K tokens per image over the placeholder ids. No fixture of the
// original's v7 exists yet: each is checked against a float64 reference written here from the spec
// (explicit bins, the formula, the row-major order).
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "model/gated_projector.h"
#include "model/image_placement.h"
#include "model/image_pool7.h"
#include "tensor_compare.h"
#include "vision_towers7_reference.h"

namespace {

using vrwkv::test::relative_error;

// Token ids [rows, n / rows] from a flat list.
torch::Tensor ids_of(std::vector<int64_t> flat, int64_t rows) {
  return torch::tensor(flat, torch::kInt64).view({rows, -1});
}

}  // namespace

TEST_CASE("v7 pooling of the 32 x 32 grid equals AdaptiveAvgPool2d's bins", "[image7]") {
  torch::manual_seed(1);
  const auto features = torch::randn({3, 1024, 5});
  for (int64_t K : {16, 9, 49, 1, 1024}) {  // 8 x 8 bins, uneven overlapping bins (32 / 3, 32 / 7), all, none
    INFO("K = " << K);
    const auto pooled = vrwkv::pool_image_grid(features, K);
    CHECK(pooled.sizes() == torch::IntArrayRef({3, K, 5}));
    const auto s = static_cast<int64_t>(std::llround(std::sqrt(double(K))));
    CHECK(relative_error(pooled, vrwkv::test::reference_adaptive_pool(features, s)) < 1e-6);
  }
  CHECK(torch::equal(vrwkv::pool_image_grid(features, 1024), features));  // the scripts' K: the identity
  // Row-major: with K = 4, token 1 is the top-right 16 x 16 quarter.
  const auto quarters = vrwkv::pool_image_grid(features, 4);
  const auto top_right = features.view({3, 32, 32, 5}).narrow(1, 0, 16).narrow(2, 16, 16).mean({1, 2});
  CHECK(relative_error(quarters.select(1, 1), top_right) < 1e-6);

  CHECK_THROWS_WITH(vrwkv::pool_image_grid(features, 10), vrwkv::test::contains("num_token_per_image 10 must be a square"));
  CHECK_THROWS_WITH(vrwkv::pool_image_grid(features, 33 * 33), vrwkv::test::contains("1 <= s <= 32"));
  CHECK_THROWS_WITH(vrwkv::pool_image_grid(torch::zeros({1, 1000, 2}), 16), vrwkv::test::contains("not a square grid"));
}

TEST_CASE("v7 gated projector is ln_v(o_proj(x * sigmoid(gate(x)))) with the original's names", "[image7]") {
  torch::manual_seed(2);
  vrwkv::GatedProjector proj(48, 16);
  std::vector<std::string> names;
  for (const auto& item : proj->named_parameters()) names.push_back(item.key());
  CHECK(names == std::vector<std::string>{"gate.weight", "o_proj.weight", "ln_v.weight", "ln_v.bias"});
  CHECK(proj->gate->weight.sizes() == torch::IntArrayRef({48, 48}));
  CHECK(proj->o_proj->weight.sizes() == torch::IntArrayRef({16, 48}));
  // PyTorch's default: U(+-1/sqrt(in)), filled up to the bound.
  const double bound = 1.0 / std::sqrt(48.0);
  CHECK(proj->gate->weight.abs().max().item<double>() <= bound);
  CHECK(proj->gate->weight.abs().max().item<double>() > 0.95 * bound);

  {
    torch::NoGradGuard no_grad;
    proj->ln_v->weight.copy_(1.0 + 0.3 * torch::randn({16}));
    proj->ln_v->bias.copy_(0.3 * torch::randn({16}));
  }
  proj->to(torch::kFloat64);
  const auto x = torch::randn({2, 7, 48}, torch::kFloat64);
  const auto g = torch::matmul(x, proj->gate->weight.t());
  const auto h = torch::matmul(x * (1.0 / (1.0 + torch::exp(-g))), proj->o_proj->weight.t());
  const auto mean = h.mean(-1, true), var = (h - mean).square().mean(-1, true);
  const auto expected = (h - mean) / torch::sqrt(var + 1e-5) * proj->ln_v->weight + proj->ln_v->bias;
  CHECK(relative_error(proj->forward(x), expected) < 1e-13);
}

TEST_CASE("v7 image tokens overwrite K placeholders per image, in batch order", "[image7]") {
  const int64_t P = vrwkv::kV7ImagePlaceholderId, K = 3, C = 4;
  // Sample 0: two images; sample 1: text only; sample 2: one image after its first token.
  const auto ids = ids_of({P, P, P, P, P, P, 10, 11,  //
                           5, 6, 7, 8, 9, 10, 11, 12,   //
                           4, P, P, P, 20, 21, 0, 0},
                          3);
  const auto plan = vrwkv::plan_image_placement(ids, 3, K);
  CHECK(plan.positions.numel() == 9);
  torch::manual_seed(3);
  const auto embeds = torch::randn({3, 8, C}, torch::kFloat64).requires_grad_(true);
  const auto tokens = torch::randn({3, K, C}, torch::kFloat64).requires_grad_(true);
  const auto out = vrwkv::place_image_tokens(embeds, plan, tokens);

  // Reference: walk the batch row-major, the n-th placeholder takes image n / K, token n % K.
  auto expected = embeds.detach().clone();
  int64_t n = 0;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 0; t < 8; ++t)
      if (ids[b][t].item<int64_t>() == P) {
        expected[b][t] = tokens.detach()[n / K][n % K];
        ++n;
      }
  CHECK(torch::equal(out.detach(), expected));
  CHECK(torch::equal(out.detach()[1], embeds.detach()[1]));  // the text-only sample is untouched

  // Gradients: the image tokens get theirs, the overwritten embeddings none.
  const auto weights = torch::randn({3, 8, C}, torch::kFloat64);
  (out * weights).sum().backward();
  const auto is_image = (ids == P).unsqueeze(-1).expand({3, 8, C});
  CHECK(torch::equal(embeds.grad().masked_select(is_image), torch::zeros({9 * C}, torch::kFloat64)));
  CHECK(torch::equal(embeds.grad().masked_select(~is_image), weights.masked_select(~is_image)));
  CHECK(torch::equal(tokens.grad(), weights.masked_select(is_image).view({3, K, C})));

  SECTION("no images: the embeddings pass through") {
    const auto text = torch::full({2, 5}, 7, torch::kInt64);
    const auto none = vrwkv::plan_image_placement(text, 0, K);
    CHECK(torch::equal(vrwkv::place_image_tokens(embeds.detach().narrow(1, 0, 5).narrow(0, 0, 2), none,
                                                 torch::zeros({0, K, C}, torch::kFloat64)),
                       embeds.detach().narrow(1, 0, 5).narrow(0, 0, 2)));
  }
  SECTION("a cut image is an error, never a misalignment") {
    auto cut = ids.clone();
    cut[2][3] = 21;  // the last image has lost a placeholder (as a truncation would cut it)
    CHECK_THROWS_WITH(vrwkv::plan_image_placement(cut, 3, K),
                      vrwkv::test::contains("holds 8 image placeholder ids (65535) but its 3 images need 9"));
    CHECK_THROWS_WITH(vrwkv::plan_image_placement(ids, 2, K), vrwkv::test::contains("its 2 images need 6"));
  }
  SECTION("a run broken by text or split across samples is an error") {
    const auto broken = ids_of({P, P, 1, P, 2, 3}, 1);
    CHECK_THROWS_WITH(vrwkv::plan_image_placement(broken, 1, K), vrwkv::test::contains("not one run in one sample"));
    const auto split = ids_of({1, 2, P, P, P, 3}, 2);
    CHECK_THROWS_WITH(vrwkv::plan_image_placement(split, 1, K), vrwkv::test::contains("not one run in one sample"));
  }
  SECTION("the tokens must match the plan") {
    CHECK_THROWS_WITH(vrwkv::place_image_tokens(embeds, plan, torch::zeros({2, K, C}, torch::kFloat64)),
                      vrwkv::test::contains("image tokens must be [3, 3, 4]"));
  }
}
