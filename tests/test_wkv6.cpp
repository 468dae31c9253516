// The WKV6 operator: forward against a float64 per-step reference, backward against float64
// finite differences (over more steps than one backward chunk), float32 against float64.
#include <torch/torch.h>

#include "catch_compat.h"
#include "model/wkv6.h"
#include "tensor_compare.h"
#include "wkv_inputs.h"

namespace {

using vrwkv::test::relative_error;

using Inputs = vrwkv::test::WkvInputs;
constexpr auto random_inputs = vrwkv::test::random_wkv_inputs;

// The recurrence exactly as SPEC section 2 states it, one step at a time, in float64.
torch::Tensor reference_wkv(const Inputs& in) {
  const int64_t B = in.r.size(0), T = in.r.size(1), H = in.u.size(0), N = in.u.size(1);
  auto as4 = [&](const torch::Tensor& t) { return t.to(torch::kFloat64).view({B, T, H, N}); };
  auto r = as4(in.r), k = as4(in.k), v = as4(in.v), w = as4(in.w);
  auto u = in.u.to(torch::kFloat64);
  auto y = torch::zeros({B, T, H, N}, torch::kFloat64);
  auto S = torch::zeros({B, H, N, N}, torch::kFloat64);
  for (int64_t t = 0; t < T; ++t) {
    auto kt = k.select(1, t), vt = v.select(1, t), rt = r.select(1, t);
    auto a = kt.unsqueeze(-1) * vt.unsqueeze(-2);  // [B, H, N(i), N(j)]
    y.select(1, t).copy_((rt.unsqueeze(-1) * (u.unsqueeze(-1) * a + S)).sum(-2));
    S = S * torch::exp(-torch::exp(w.select(1, t))).unsqueeze(-1) + a;
  }
  return y.view({B, T, H * N});
}

}  // namespace

TEST_CASE("wkv6 forward matches the per-step float64 reference", "[wkv6]") {
  for (auto [B, T, H, N] : {std::array<int64_t, 4>{2, 5, 2, 4}, {1, 67, 3, 8}, {3, 33, 1, 64}}) {
    const auto in = random_inputs(B, T, H, N, torch::kFloat64, 1000 + T);
    const auto y = vrwkv::wkv6_forward_cpu(in.r, in.k, in.v, in.w, in.u);
    CHECK(relative_error(y, reference_wkv(in)) < 1e-12);
  }
}

TEST_CASE("wkv6 float32 path stays within float32 rounding of float64", "[wkv6]") {
  const auto in64 = random_inputs(2, 80, 2, 64, torch::kFloat64, 7);
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  const auto y32 = vrwkv::wkv6_forward_cpu(f32(in64.r), f32(in64.k), f32(in64.v), f32(in64.w), f32(in64.u));
  CHECK(y32.scalar_type() == torch::kFloat32);
  CHECK(relative_error(y32, reference_wkv(in64)) < 1e-5);

  const auto dy = torch::randn_like(in64.r);
  const auto g64 = vrwkv::wkv6_backward_cpu(in64.r, in64.k, in64.v, in64.w, in64.u, dy);
  const auto g32 = vrwkv::wkv6_backward_cpu(f32(in64.r), f32(in64.k), f32(in64.v), f32(in64.w), f32(in64.u), f32(dy));
  for (size_t i = 0; i < g64.size(); ++i) CHECK(relative_error(g32[i], g64[i]) < 1e-4);
}

TEST_CASE("wkv6 backward matches float64 finite differences", "[wkv6]") {
  // T = 70 crosses two chunk boundaries of the backward's state recomputation.
  const int64_t B = 2, T = 70, H = 2, N = 4;
  const auto in = random_inputs(B, T, H, N, torch::kFloat64, 42);
  const auto dy = torch::randn({B, T, H * N}, torch::kFloat64);
  const auto grads = vrwkv::wkv6_backward_cpu(in.r, in.k, in.v, in.w, in.u, dy);
  auto objective = [&](const Inputs& x) {
    return (vrwkv::wkv6_forward_cpu(x.r, x.k, x.v, x.w, x.u) * dy).sum().item<double>();
  };
  const double eps = 1e-6;
  for (int which = 0; which < 5; ++which) {
    Inputs x{in.r.clone(), in.k.clone(), in.v.clone(), in.w.clone(), in.u.clone()};
    torch::Tensor* target[] = {&x.r, &x.k, &x.v, &x.w, &x.u};
    auto flat = target[which]->view({-1});
    auto numeric = torch::empty_like(flat);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double saved = flat[i].item<double>();
      flat[i] = saved + eps;
      const double plus = objective(x);
      flat[i] = saved - eps;
      const double minus = objective(x);
      flat[i] = saved;
      numeric[i] = (plus - minus) / (2 * eps);
    }
    INFO("input " << "rkvwu"[which]);
    CHECK(relative_error(grads[which].reshape({-1}), numeric) < 1e-6);
  }
}

TEST_CASE("wkv6 autograd operator gives the kernel's gradients", "[wkv6]") {
  auto in = random_inputs(1, 40, 2, 8, torch::kFloat32, 3);
  for (auto* t : {&in.r, &in.k, &in.v, &in.w, &in.u}) t->requires_grad_(true);
  const auto dy = torch::randn_like(in.r);
  auto y = vrwkv::wkv6(in.r, in.k, in.v, in.w, in.u);
  y.backward(dy);
  const auto expected = vrwkv::wkv6_backward_cpu(in.r.detach(), in.k.detach(), in.v.detach(), in.w.detach(),
                                                 in.u.detach(), dy);
  CHECK(torch::equal(in.r.grad(), expected[0]));
  CHECK(torch::equal(in.w.grad(), expected[3]));
  CHECK(torch::equal(in.u.grad(), expected[4]));
}

TEST_CASE("wkv6 rejects mismatched shapes", "[wkv6]") {
  const auto in = random_inputs(1, 4, 2, 4, torch::kFloat32, 5);
  CHECK_THROWS_WITH(vrwkv::wkv6(in.r, in.k, in.v, in.w, torch::zeros({3, 4})),
                    vrwkv::test::contains("does not match C"));
  CHECK_THROWS(vrwkv::wkv6(in.r, in.k.narrow(1, 0, 2), in.v, in.w, in.u));
}

TEST_CASE("heads zero-padded to the CUDA kernel's size give the same outputs and gradients", "[wkv6]") {
  // What the CUDA path does for head sizes below 64 (the demo's 32), checked with the CPU kernel.
  for (int64_t N : {32, 16}) {
    INFO("head size " << N);
    const int64_t P = vrwkv::kWkv6KernelHeadSize;
    const auto in = random_inputs(2, 40, 3, N, torch::kFloat64, 500 + N);
    auto pad = [&](const torch::Tensor& t) { return vrwkv::pad_heads(t, N, P); };
    auto unpad = [&](const torch::Tensor& t) { return vrwkv::unpad_heads(t, N, P); };
    CHECK(pad(in.r).size(2) == 3 * P);
    CHECK(torch::equal(unpad(pad(in.r)), in.r));
    const auto y = vrwkv::wkv6_forward_cpu(in.r, in.k, in.v, in.w, in.u);
    const auto y_padded = vrwkv::wkv6_forward_cpu(pad(in.r), pad(in.k), pad(in.v), pad(in.w), pad(in.u));
    CHECK(relative_error(unpad(y_padded), y) < 1e-14);
    // The padded channels' own outputs are zero (v = 0 there) and dropped.
    CHECK(relative_error(pad(unpad(y_padded)), y_padded) < 1e-14);
    const auto dy = torch::randn_like(in.r);
    const auto g = vrwkv::wkv6_backward_cpu(in.r, in.k, in.v, in.w, in.u, dy);
    const auto gp = vrwkv::wkv6_backward_cpu(pad(in.r), pad(in.k), pad(in.v), pad(in.w), pad(in.u), pad(dy));
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("gradient " << i);
      CHECK(relative_error(unpad(gp[i]), g[i]) < 1e-12);
    }
  }
  REQUIRE_THROWS_WITH(vrwkv::pad_heads(torch::zeros({2, 5, 48}), 32, 64), vrwkv::test::contains("not a multiple of head size 32"));
}
