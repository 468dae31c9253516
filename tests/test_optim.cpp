// AdamW against a float64 reference of its update rule, weight decay only on tensors with two or
// more non-unit dimensions, and the learning-rate schedule of SPEC section 9.
#include <cmath>

#include "catch_compat.h"
#include "train/adamw.h"
#include "train/schedule.h"

TEST_CASE("AdamW matches a float64 reference, with decay only on 2+ non-unit dims", "[optim]") {
  torch::manual_seed(0);
  auto matrix = torch::randn({3, 4}).requires_grad_(true);
  auto vector = torch::randn({1, 1, 4}).requires_grad_(true);  // one non-unit dim: no decay
  const vrwkv::train::AdamWOptions opt{0.9, 0.99, 1e-8, 0.1};
  vrwkv::train::AdamW adam({{"m", matrix}, {"v", vector}}, opt);
  CHECK(vrwkv::train::decays(matrix));
  CHECK_FALSE(vrwkv::train::decays(vector));
  CHECK_FALSE(vrwkv::train::decays(torch::zeros({5, 1})));

  // Reference: the decoupled AdamW update in float64.
  struct Ref {
    torch::Tensor w, m, v;
    bool decay;
  };
  std::vector<Ref> ref = {{matrix.detach().to(torch::kFloat64), torch::zeros({3, 4}, torch::kFloat64),
                           torch::zeros({3, 4}, torch::kFloat64), true},
                          {vector.detach().to(torch::kFloat64), torch::zeros({1, 1, 4}, torch::kFloat64),
                           torch::zeros({1, 1, 4}, torch::kFloat64), false}};
  const double lrs[] = {1e-2, 5e-3, 2e-3};
  for (int step = 1; step <= 3; ++step) {
    const double lr = lrs[step - 1];
    const auto gm = torch::randn({3, 4}), gv = torch::randn({1, 1, 4});
    matrix.mutable_grad() = gm;
    vector.mutable_grad() = gv;
    adam.step(lr);
    const torch::Tensor grads[] = {gm.to(torch::kFloat64), gv.to(torch::kFloat64)};
    for (int i = 0; i < 2; ++i) {
      auto& r = ref[i];
      if (r.decay) r.w = r.w * (1 - lr * opt.weight_decay);
      r.m = 0.9 * r.m + 0.1 * grads[i];
      r.v = 0.99 * r.v + 0.01 * grads[i] * grads[i];
      const double b1 = 1 - std::pow(0.9, step), b2 = 1 - std::pow(0.99, step);
      r.w = r.w - lr * (r.m / b1) / ((r.v / b2).sqrt() + opt.eps);
    }
    CHECK(torch::allclose(matrix.detach().to(torch::kFloat64), ref[0].w, 0, 1e-6));
    CHECK(torch::allclose(vector.detach().to(torch::kFloat64), ref[1].w, 0, 1e-6));
  }
  CHECK(adam.step_count() == 3);
  // State round trip.
  vrwkv::train::AdamW again({{"m", matrix}, {"v", vector}}, opt);
  again.load_state(adam.state(), "test");
  CHECK(again.step_count() == 3);
  CHECK_THROWS_WITH(again.load_state({}, "ckpt"), vrwkv::test::contains("ckpt: optimizer state has no 'm.master'"));
}

TEST_CASE("AdamW scales the learning rate of tensors by name prefix", "[optim]") {
  torch::manual_seed(1);
  const auto start = torch::randn({2, 3});
  auto tower = start.clone().requires_grad_(true), proj = start.clone().requires_grad_(true);
  auto other = start.clone().requires_grad_(true);
  vrwkv::train::AdamWOptions opt;
  opt.weight_decay = 0.5;
  opt.lr_scales = {{"vit.", 0.1}, {"vit.embeddings", 7.0}};  // the first match wins
  vrwkv::train::AdamW adam({{"vit.embeddings.w", tower}, {"proj.weight", proj}, {"vitamin", other}}, opt);
  const auto g = torch::randn({2, 3});
  for (auto* t : {&tower, &proj, &other}) t->mutable_grad() = g.clone();
  const double lr = 1e-2;
  adam.step(lr);
  // First step, float64: w (1 - lr_i wd) - lr_i m / (sqrt(v) + eps) with m / sqrt(v) = g / |g|.
  const auto s64 = start.to(torch::kFloat64), g64 = g.to(torch::kFloat64);
  auto expected = [&](double lr_i) { return s64 * (1 - lr_i * 0.5) - lr_i * g64 / (g64.abs() + 1e-8); };
  CHECK(torch::allclose(tower.detach().to(torch::kFloat64), expected(lr * 0.1), 0, 1e-6));
  CHECK(torch::allclose(proj.detach().to(torch::kFloat64), expected(lr), 0, 1e-6));
  CHECK(torch::allclose(other.detach().to(torch::kFloat64), expected(lr), 0, 1e-6));  // a prefix, not a substring
}

TEST_CASE("schedule: warm-up from 0.1 x, then cosine from lr_init to lr_final", "[optim]") {
  const vrwkv::train::LrSchedule s{1e-3, 1e-5, 10, 110};
  CHECK(s.at(0) == Approx(1e-4));
  CHECK(s.at(5) == Approx(1e-3 * (0.1 + 0.9 * 0.5)));
  CHECK(s.at(10) == Approx(1e-3));
  CHECK(s.at(60) == Approx(1e-5 + 0.5 * (1e-3 - 1e-5)));
  CHECK(s.at(110) == Approx(1e-5));
  const vrwkv::train::LrSchedule constant{2e-5, 2e-5, 0, 100};
  CHECK(constant.at(0) == 2e-5);
  CHECK(constant.at(99) == 2e-5);
}
