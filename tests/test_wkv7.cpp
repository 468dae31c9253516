// The WKV7 operator (SPEC-v7 section 3) against the float64 per-step reference of rwkv7_reference.h
// (no fixture of the original's v7 exists yet): forward element by element, including strong
// in-context removal (a near 1), backward against autograd through the reference and against finite
// differences, float32 against float64, continuation from a state.
#include <torch/torch.h>

#include "catch_compat.h"
#include "model/wkv7.h"
#include "rwkv7_reference.h"
#include "tensor_compare.h"
#include "wkv_inputs.h"

namespace {

using vrwkv::test::reference_wkv7;
using vrwkv::test::random_wkv7_inputs;
using vrwkv::test::relative_error;
using vrwkv::test::Wkv7Inputs;

torch::Tensor reference(const Wkv7Inputs& in) { return reference_wkv7(in.r, in.w, in.k, in.v, in.alpha, in.beta, in.N); }

torch::Tensor kernel(const Wkv7Inputs& in) {
  return vrwkv::wkv7_forward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, in.N).first;
}

Wkv7Inputs to_type(const Wkv7Inputs& in, torch::ScalarType type) {
  return {in.r.to(type), in.w.to(type), in.k.to(type), in.v.to(type), in.alpha.to(type), in.beta.to(type), in.N};
}

// Largest |a - b| over all elements, relative to the reference's largest magnitude.
double max_elementwise_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto b64 = b.to(torch::kFloat64);
  return ((a.to(torch::kFloat64) - b64).abs().max() / b64.abs().max()).item<double>();
}

}  // namespace

TEST_CASE("wkv7 forward matches the per-step float64 reference element by element", "[wkv7]") {
  // T = 5: shorter than a chunk; 37: crosses two chunk boundaries; 64: the head size of the original.
  for (auto [B, T, H, N] : {std::array<int64_t, 4>{2, 5, 2, 4}, {1, 37, 3, 8}, {2, 48, 1, 64}}) {
    INFO("B " << B << " T " << T << " H " << H << " N " << N);
    const auto in = random_wkv7_inputs(B, T, H, N, torch::kFloat64, 100 + T);
    CHECK(max_elementwise_error(kernel(in), reference(in)) < 1e-13);
  }
}

TEST_CASE("wkv7 with strong in-context removal (a near 1) stays on the float64 reference", "[wkv7]") {
  // a in (0.999, 1) and decays near 1: each step removes nearly all of the state along kk, the case
  // where an unstable formulation (or the original's division by d in its backward) loses accuracy.
  auto in64 = random_wkv7_inputs(2, 80, 2, 64, torch::kFloat64, 11, /*a_min=*/0.999);
  in64.w = torch::full_like(in64.w, -6.0);  // decay exp(-exp(-6)) = 0.9975
  const auto y64 = reference(in64);
  CHECK(max_elementwise_error(kernel(in64), y64) < 1e-13);
  // float32 state: within the fixtures README's float32 tolerance (1e-4) on every element.
  const auto y32 = kernel(to_type(in64, torch::kFloat32));
  CHECK(y32.scalar_type() == torch::kFloat32);
  CHECK(max_elementwise_error(y32, y64) < 1e-4);
  const auto dy = torch::randn_like(in64.r);
  const auto g64 = vrwkv::wkv7_backward_cpu(in64.r, in64.w, in64.k, in64.v, in64.alpha, in64.beta, 64, dy);
  const auto in32 = to_type(in64, torch::kFloat32);
  const auto g32 = vrwkv::wkv7_backward_cpu(in32.r, in32.w, in32.k, in32.v, in32.alpha, in32.beta, 64,
                                            dy.to(torch::kFloat32));
  for (size_t i = 0; i < g64.size(); ++i) {
    INFO("gradient " << "rwkvab"[i]);
    CHECK(relative_error(g32[i], g64[i]) < 1e-3);  // the README's float32 gradient tolerance
  }
}

TEST_CASE("wkv7 with a = 1 and no decay removes the state along kk exactly", "[wkv7]") {
  // One step with k = v = 0, d = 1, a = 1: S <- S (I - kk kk^T), so S kk = 0 afterwards: y = S r = 0
  // for r = kk. The first step writes v k^T with random v, k so the state is not zero.
  const int64_t N = 8;
  torch::manual_seed(5);
  auto o = torch::TensorOptions().dtype(torch::kFloat64);
  auto kk = torch::randn({N}, o);
  kk = kk / kk.norm();
  auto r = torch::stack({torch::randn({N}, o), kk}).view({1, 2, N});
  auto k = torch::stack({torch::randn({N}, o), torch::zeros({N}, o)}).view({1, 2, N});
  auto v = torch::stack({torch::randn({N}, o), torch::zeros({N}, o)}).view({1, 2, N});
  auto w = torch::full({1, 2, N}, -40.0, o);  // d = exp(-exp(-40)) = 1 in float64
  auto alpha = torch::stack({torch::zeros({N}, o), -kk}).view({1, 2, N});
  auto beta = torch::stack({torch::zeros({N}, o), kk}).view({1, 2, N});
  const auto [y, state] = vrwkv::wkv7_forward_cpu(r, w, k, v, alpha, beta, N);
  CHECK(y[0][0].abs().max().item<double>() > 1e-3);  // the state held something along kk
  CHECK(y[0][1].abs().max().item<double>() < 1e-14);
  CHECK(torch::matmul(state[0][0], kk).abs().max().item<double>() < 1e-14);
}

TEST_CASE("wkv7 backward matches autograd through the float64 reference", "[wkv7]") {
  for (auto [B, T, H, N] : {std::array<int64_t, 4>{2, 7, 2, 4}, {1, 45, 2, 16}}) {
    INFO("B " << B << " T " << T << " H " << H << " N " << N);
    auto in = random_wkv7_inputs(B, T, H, N, torch::kFloat64, 300 + T);
    const auto dy = torch::randn_like(in.r);
    const auto grads = vrwkv::wkv7_backward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, N, dy);
    std::vector<torch::Tensor> leaves = {in.r, in.w, in.k, in.v, in.alpha, in.beta};
    for (auto& t : leaves) t = t.clone().requires_grad_(true);
    const auto y = reference_wkv7(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], N);
    const auto expected = torch::autograd::grad({y}, leaves, {dy});
    for (size_t i = 0; i < leaves.size(); ++i) {
      INFO("gradient " << "rwkvab"[i]);
      CHECK(relative_error(grads[i], expected[i]) < 1e-12);
    }
  }
}

TEST_CASE("wkv7 backward matches float64 finite differences", "[wkv7]") {
  // T = 20 crosses one chunk boundary of the backward's state recomputation.
  const int64_t N = 4;
  const auto in = random_wkv7_inputs(1, 20, 2, N, torch::kFloat64, 77);
  const auto dy = torch::randn_like(in.r);
  const auto grads = vrwkv::wkv7_backward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, N, dy);
  const double eps = 1e-6;
  for (int which = 0; which < 6; ++which) {
    Wkv7Inputs x = to_type(in, torch::kFloat64);
    for (auto* t : {&x.r, &x.w, &x.k, &x.v, &x.alpha, &x.beta}) *t = t->clone();
    torch::Tensor* target[] = {&x.r, &x.w, &x.k, &x.v, &x.alpha, &x.beta};
    auto flat = target[which]->view({-1});
    auto numeric = torch::empty_like(flat);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double saved = flat[i].item<double>();
      flat[i] = saved + eps;
      const double plus = (kernel(x) * dy).sum().item<double>();
      flat[i] = saved - eps;
      const double minus = (kernel(x) * dy).sum().item<double>();
      flat[i] = saved;
      numeric[i] = (plus - minus) / (2 * eps);
    }
    INFO("input " << "rwkvab"[which]);
    CHECK(relative_error(grads[which].reshape({-1}), numeric) < 1e-6);
  }
}

TEST_CASE("wkv7 autograd operator gives the kernel's gradients", "[wkv7]") {
  auto in = random_wkv7_inputs(1, 33, 2, 8, torch::kFloat32, 3);
  std::vector<torch::Tensor> leaves = {in.r, in.w, in.k, in.v, in.alpha, in.beta};
  for (auto& t : leaves) t.requires_grad_(true);
  const auto dy = torch::randn_like(in.r);
  vrwkv::wkv7(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], 8).backward(dy);
  const auto expected = vrwkv::wkv7_backward_cpu(in.r.detach(), in.w.detach(), in.k.detach(), in.v.detach(),
                                                 in.alpha.detach(), in.beta.detach(), 8, dy);
  for (size_t i = 0; i < leaves.size(); ++i) {
    INFO("gradient " << "rwkvab"[i]);
    CHECK(torch::equal(leaves[i].grad(), expected[i]));
  }
}

TEST_CASE("wkv7 continued from a state equals one pass over the whole sequence", "[wkv7]") {
  const auto in = random_wkv7_inputs(2, 30, 2, 8, torch::kFloat64, 9);
  const auto [y_all, s_all] = vrwkv::wkv7_forward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, 8);
  auto part = [&](const torch::Tensor& t, int64_t from, int64_t len) { return t.narrow(1, from, len); };
  auto run = [&](int64_t from, int64_t len, const torch::Tensor& state) {
    return vrwkv::wkv7_forward_cpu(part(in.r, from, len), part(in.w, from, len), part(in.k, from, len),
                                   part(in.v, from, len), part(in.alpha, from, len), part(in.beta, from, len), 8,
                                   state);
  };
  const auto [y1, s1] = run(0, 11, {});
  const auto [y2, s2] = run(11, 1, s1);
  const auto [y3, s3] = run(12, 18, s2);
  CHECK(relative_error(torch::cat({y1, y2, y3}, 1), y_all) < 1e-14);
  CHECK(relative_error(s3, s_all) < 1e-14);
  // The final state is the reference's too, and a float32 run keeps a float32 state.
  torch::Tensor s_ref;
  reference_wkv7(in.r, in.w, in.k, in.v, in.alpha, in.beta, 8, &s_ref);
  CHECK(relative_error(s_all, s_ref) < 1e-13);
  const auto in32 = to_type(in, torch::kBFloat16);
  const auto [y16, s32] = vrwkv::wkv7_forward_cpu(in32.r, in32.w, in32.k, in32.v, in32.alpha, in32.beta, 8);
  CHECK(y16.scalar_type() == torch::kBFloat16);
  CHECK(s32.scalar_type() == torch::kFloat32);
}

TEST_CASE("wkv7 rejects mismatched shapes and head sizes", "[wkv7]") {
  const auto in = random_wkv7_inputs(1, 4, 2, 4, torch::kFloat32, 5);
  CHECK_THROWS_WITH(vrwkv::wkv7(in.r, in.w, in.k, in.v, in.alpha, in.beta, 3),
                    vrwkv::test::contains("not a multiple of head size 3"));
  CHECK_THROWS_WITH(vrwkv::wkv7(in.r, in.w, in.k.narrow(1, 0, 2), in.v, in.alpha, in.beta, 4),
                    vrwkv::test::contains("must have one shape"));
  CHECK_THROWS_WITH(vrwkv::wkv7_forward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, 4, torch::zeros({1, 2, 4})),
                    vrwkv::test::contains("state must be [1, 2, 4, 4]"));
}
