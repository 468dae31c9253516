// Model parts: sequence assembly (SPEC section 5), scan orders, grid pooling, loss and L2Wrap, init, config.
#include <torch/torch.h>

#include "catch_compat.h"
#include "model/loss.h"
#include "model/rwkv6.h"
#include "model/sequence.h"
#include "model/visual_rwkv.h"
#include "test_paths.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace {

using vrwkv::kIgnoreLabel;
using vrwkv::kImagePlaceholder;

torch::Tensor ids(std::vector<std::vector<int64_t>> rows) {
  const int64_t B = rows.size(), T = rows[0].size();
  auto t = torch::empty({B, T}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T; ++i) t[b][i] = rows[b][i];
  return t;
}

std::vector<int64_t> row_of(const torch::Tensor& t, int64_t b) {
  auto r = t[b].contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

}  // namespace

TEST_CASE("plan_sequence aligns the image of every sample at the batch's largest placeholder", "[model]") {
  const int64_t P = kImagePlaceholder, I = kIgnoreLabel;
  const auto input = ids({{7, P, 8, 9}, {5, 6, P, 4}, {1, 2, 3, 0}});
  const auto labels = ids({{I, I, 8, 9}, {I, I, I, 4}, {I, 2, 3, I}});
  const auto s = vrwkv::plan_sequence(input, labels, /*K=*/3, /*ctx_len=*/0);
  CHECK(s.img_start == 2);
  CHECK(s.img_end == 4);
  CHECK(s.labels.size(1) == 2 + 3 + 4);
  // sample 0: one id-0 pad, its token 7, image rows 0..2, then 8 9, then padding
  CHECK(row_of(s.token_ids, 0) == std::vector<int64_t>{0, 7, 0, 0, 0, 8, 9, 0, 0});
  CHECK(row_of(s.labels, 0) == std::vector<int64_t>{I, I, I, I, I, 8, 9, I, I});
  CHECK(row_of(s.image_rows, 0) == std::vector<int64_t>{9, 9, 0, 1, 2, 9, 9, 9, 9});
  CHECK(s.is_token[0][0].item<bool>());
  CHECK_FALSE(s.is_token[0][7].item<bool>());  // batch padding is a zero vector
  // sample 1: image rows 3..5
  CHECK(row_of(s.image_rows, 1) == std::vector<int64_t>{9, 9, 3, 4, 5, 9, 9, 9, 9});
  CHECK(row_of(s.token_ids, 1) == std::vector<int64_t>{5, 6, 0, 0, 0, 4, 0, 0, 0});
  // sample 2 (no image): m id-0 tokens, K zero vectors, the whole text
  CHECK(row_of(s.token_ids, 2) == std::vector<int64_t>{0, 0, 0, 0, 0, 1, 2, 3, 0});
  CHECK(row_of(s.image_rows, 2) == std::vector<int64_t>(9, 9));
  CHECK(row_of(s.labels, 2) == std::vector<int64_t>{I, I, I, I, I, I, 2, 3, I});
  CHECK(s.has_image[1].item<bool>());
  CHECK_FALSE(s.has_image[2].item<bool>());
}

TEST_CASE("plan_sequence truncation keeps the head when it holds a label, else the tail", "[model]") {
  const int64_t P = kImagePlaceholder, I = kIgnoreLabel;
  {
    const auto s = vrwkv::plan_sequence(ids({{P, 1, 2, 3, 4}}), ids({{I, 1, 2, 3, 4}}), 2, 4);
    CHECK(row_of(s.labels, 0) == std::vector<int64_t>{I, I, 1, 2});
  }
  {
    const auto s = vrwkv::plan_sequence(ids({{P, 1, 2, 3, 4}}), ids({{I, I, I, I, 4}}), 2, 4);
    CHECK(row_of(s.token_ids, 0) == std::vector<int64_t>{1, 2, 3, 4});
    CHECK(row_of(s.labels, 0) == std::vector<int64_t>{I, I, I, 4});
  }
  {
    // The same sample padded by the collate to a longer neighbour's length truncates the same: its
    // padding (id 0, label -100) is not text.
    const auto s = vrwkv::plan_sequence(ids({{P, 1, 2, 3, 4, 0, 0}, {P, 1, 2, 3, 4, 5, 6}}),
                                        ids({{I, I, I, I, 4, I, I}, {I, I, I, I, I, I, 6}}), 2, 4);
    CHECK(row_of(s.token_ids, 0) == std::vector<int64_t>{1, 2, 3, 4});
    CHECK(row_of(s.labels, 0) == std::vector<int64_t>{I, I, I, 4});
    CHECK(row_of(s.labels, 1) == std::vector<int64_t>{I, I, I, 6});
  }
}

TEST_CASE("plan_sequence rejects two placeholders and a ctx_len smaller than the image", "[model]") {
  const int64_t P = kImagePlaceholder, I = kIgnoreLabel;
  CHECK_THROWS_WITH(vrwkv::plan_sequence(ids({{P, 1, P}}), ids({{I, 1, I}}), 2, 0),
                    vrwkv::test::contains("more than one image placeholder"));
  CHECK_THROWS_WITH(vrwkv::plan_sequence(ids({{1, P, 1}}), ids({{I, I, 1}}), 8, 6),
                    vrwkv::test::contains("does not fit in ctx_len"));
}

TEST_CASE("scan orders: bi reverses the span on odd blocks, multi also transposes it", "[model]") {
  using vrwkv::ScanMode;
  auto order = [](ScanMode m, int64_t layer) {
    auto t = vrwkv::scan_order(m, layer, 7, 1, 5);  // span of 4 = a 2 x 2 grid at positions 1..4
    return t.defined() ? std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + 7)
                       : std::vector<int64_t>{};
  };
  CHECK(order(ScanMode::kUni, 1).empty());
  CHECK(order(ScanMode::kBi, 0).empty());
  CHECK(order(ScanMode::kBi, 1) == std::vector<int64_t>{0, 4, 3, 2, 1, 5, 6});
  CHECK(order(ScanMode::kMulti, 0).empty());
  CHECK(order(ScanMode::kMulti, 1) == std::vector<int64_t>{0, 4, 3, 2, 1, 5, 6});
  CHECK(order(ScanMode::kMulti, 2) == std::vector<int64_t>{0, 1, 3, 2, 4, 5, 6});  // transposed grid
  CHECK(order(ScanMode::kMulti, 3) == std::vector<int64_t>{0, 4, 2, 3, 1, 5, 6});  // transposed, reversed
  CHECK_THROWS_WITH(vrwkv::scan_order(ScanMode::kMulti, 0, 9, 1, 6), vrwkv::test::contains("square"));
  CHECK_THROWS(vrwkv::scan_mode_from_string("diagonal"));
}

TEST_CASE("grid pooling for -1, 0, 1 and g > 1", "[model]") {
  auto features = torch::arange(1 + 16, torch::kFloat32).view({1, 17, 1}).repeat({1, 1, 2});  // cls = 0
  CHECK(vrwkv::pool_image_features(features, -1).size(1) == 17);
  CHECK(vrwkv::pool_image_features(features, -1)[0][16][0].item<float>() == 0.0f);  // cls moved last
  CHECK(vrwkv::pool_image_features(features, 0).size(1) == 1);
  CHECK(vrwkv::pool_image_features(features, 1)[0][0][0].item<float>() == Approx(8.5));
  const auto g2 = vrwkv::pool_image_features(features, 2);  // 4 x 4 grid of 1..16, 2 x 2 pools
  REQUIRE(g2.size(1) == 5);
  CHECK(g2[0][0][0].item<float>() == Approx((1 + 2 + 5 + 6) / 4.0));
  CHECK(g2[0][1][0].item<float>() == Approx((3 + 4 + 7 + 8) / 4.0));
  CHECK(g2[0][2][0].item<float>() == Approx((9 + 10 + 13 + 14) / 4.0));
}

TEST_CASE("loss averages per-sample means; L2Wrap adds max * 1e-4 / (B T) at the arg-max", "[model]") {
  torch::manual_seed(0);
  const int64_t I = kIgnoreLabel;
  auto logits = torch::randn({2, 4, 6}, torch::kFloat64).requires_grad_(true);
  const auto labels = ids({{I, 1, 2, I}, {I, I, I, 5}});
  const auto loss = vrwkv::next_token_loss(logits, labels);
  const auto logp = torch::log_softmax(logits.detach(), -1);
  const double expected = (-(logp[0][0][1] + logp[0][1][2]).item<double>() / 2 - logp[1][2][5].item<double>()) / 2;
  CHECK(loss.item<double>() == Approx(expected).epsilon(1e-12));

  const auto plain = torch::autograd::grad({loss}, {logits}, {}, /*retain_graph=*/true)[0];
  const auto wrapped_loss = vrwkv::l2wrap(loss, logits);
  CHECK(wrapped_loss.item<double>() == loss.item<double>());
  const auto wrapped = torch::autograd::grad({wrapped_loss}, {logits})[0];
  const auto [max_value, max_index] = logits.detach().max(-1, true);
  const auto extra = torch::zeros_like(plain).scatter_(-1, max_index, max_value * 1e-4 / 8.0);
  CHECK(torch::allclose(wrapped - plain, extra, 0, 1e-15));
}

TEST_CASE("initialisation follows the formulas of SPEC section 2", "[model]") {
  vrwkv::ModelConfig c;
  c.n_layer = 4;
  c.n_embd = 128;
  c.vocab_size = 16;
  c = c.resolved();
  CHECK(c.dim_ffn == 448);
  CHECK(c.d_mix == 32);
  CHECK(c.d_decay == 64);
  vrwkv::TimeMix att(c, 2);
  const double ratio0 = 2.0 / 3.0, ratio1 = 0.5;
  const double d5 = 5.0 / 128;
  CHECK(att->time_maa_k[0][0][5].item<float>() == Approx(1 - std::pow(d5, ratio1)));
  CHECK(att->time_maa_v[0][0][5].item<float>() == Approx(1 - (std::pow(d5, ratio1) + 0.3 * ratio0)));
  CHECK(att->time_maa_g[0][0][5].item<float>() == Approx(1 - std::pow(d5, 0.5 * ratio1)));
  CHECK(att->time_decay[0][0][0].item<float>() == Approx(-6.0));
  CHECK(att->time_decay[0][0][127].item<float>() == Approx(-1.0));
  // time_faaaa[n] = ratio0 * (1 - n / (C - 1)) + ((n + 1) % 3 - 1) * 0.1, viewed [H, N]
  CHECK(att->time_faaaa[1][0].item<float>() == Approx(ratio0 * (1 - 64.0 / 127) + ((65 % 3) - 1) * 0.1));
  CHECK(att->time_maa_w1.abs().sum().item<float>() == 0.0f);
  CHECK(att->time_maa_w2.abs().max().item<float>() <= 0.01f);
  CHECK(att->time_faaaa.sizes() == torch::IntArrayRef({2, 64}));
}

TEST_CASE("shipped model configs resolve to the sizes of SPEC section 1", "[model]") {
  auto load = [](const std::string& name) {
    const std::string path = vrwkv::test::source_dir() + "/configs/model/" + name + ".json";
    std::ifstream in(path);
    REQUIRE(in.good());
    return vrwkv::model_config_from_json(nlohmann::json::parse(in), path);
  };
  const auto m1b6 = load("1b6"), m3b = load("3b"), m7b = load("7b");
  CHECK((m1b6.n_layer == 24 && m1b6.n_embd == 2048 && m1b6.n_head() == 32 && m1b6.dim_ffn == 7168));
  CHECK((m1b6.d_mix == 32 && m1b6.d_decay == 64));
  CHECK((m3b.n_layer == 32 && m3b.n_head() == 40 && m3b.dim_ffn == 8960));
  CHECK((m7b.n_head() == 64 && m7b.dim_ffn == 14336 && m7b.d_mix == 64 && m7b.d_decay == 128));
  CHECK(m7b.image_tokens() == 577);
  CHECK_THROWS_WITH(vrwkv::model_config_from_json(nlohmann::json{{"n_layer", "four"}}, "x.json"),
                    vrwkv::test::contains("x.json: field 'n_layer'"));
  CHECK_THROWS_WITH(vrwkv::model_config_from_json(nlohmann::json{{"n_embd", 100}}, "y.json"),
                    vrwkv::test::contains("head_size"));
}
