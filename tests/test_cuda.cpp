// The CUDA path on a GPU (run by `make gpu-check`, tag [cuda]; not registered with CTest, since CI
// has no GPU): the wkv6 operator with autograd on CUDA against the CPU kernel in float64, strong
// decay element by element, zero-padded small heads, the clear errors for what the kernel does not
// cover, and the recurrent state's device path. Without a GPU every test here fails: gpu-check runs
// them only where torch sees one.
#include <torch/torch.h>

#include "catch_compat.h"
#include "infer/recurrent.h"
#include "model/wkv6.h"
#include "model/wkv6_state.h"
#include "tensor_compare.h"
#include "wkv_inputs.h"

namespace {

using vrwkv::test::relative_error;
using vrwkv::test::contains;
using Inputs = vrwkv::test::WkvInputs;

torch::Device gpu() {
  REQUIRE(torch::cuda::is_available());
  return torch::Device(torch::kCUDA, 0);
}

struct Outputs {
  torch::Tensor y;
  std::vector<torch::Tensor> grads;  // dr, dk, dv, dw, du
};

// wkv6() with autograd on `device` in `type`, the loss sum(y * dy); results back on the CPU in float64.
Outputs run_op(const Inputs& in, const torch::Tensor& dy, torch::Device device, torch::ScalarType type,
               torch::ScalarType u_type) {
  auto leaf = [&](const torch::Tensor& t, torch::ScalarType ty) { return t.to(device, ty).detach().requires_grad_(true); };
  auto r = leaf(in.r, type), k = leaf(in.k, type), v = leaf(in.v, type), w = leaf(in.w, type), u = leaf(in.u, u_type);
  auto y = vrwkv::wkv6(r, k, v, w, u);
  CHECK(y.device() == device);
  CHECK(y.scalar_type() == type);
  (y.to(torch::kFloat32) * dy.to(device, torch::kFloat32)).sum().backward();
  Outputs out{y.detach().to(torch::kCPU, torch::kFloat64), {}};
  for (auto* t : {&r, &k, &v, &w, &u}) {
    REQUIRE(t->grad().defined());
    CHECK(t->grad().device() == device);
    out.grads.push_back(t->grad().to(torch::kCPU, torch::kFloat64));
  }
  return out;
}

// The CPU kernel in float64 on the same (rounded) inputs.
Outputs reference(const Inputs& in, const torch::Tensor& dy, torch::ScalarType type, torch::ScalarType u_type) {
  auto as = [&](const torch::Tensor& t, torch::ScalarType ty) { return t.to(ty).to(torch::kFloat64); };
  Inputs r64{as(in.r, type), as(in.k, type), as(in.v, type), as(in.w, type), as(in.u, u_type)};
  const auto dy64 = dy.to(torch::kFloat32).to(torch::kFloat64);
  return {vrwkv::wkv6_forward_cpu(r64.r, r64.k, r64.v, r64.w, r64.u),
          vrwkv::wkv6_backward_cpu(r64.r, r64.k, r64.v, r64.w, r64.u, dy64)};
}

void compare(const Outputs& got, const Outputs& want, double tol, bool elementwise) {
  const char* names[] = {"dr", "dk", "dv", "dw", "du"};
  auto one = [&](const char* what, const torch::Tensor& g, const torch::Tensor& w) {
    INFO(what);
    CHECK(torch::isfinite(g).all().item<bool>());
    CHECK(relative_error(g, w) < tol);
    if (elementwise) {
      // Every element within tol of itself plus a tenth of the largest: small values count too.
      const auto bound = tol * (w.abs() + 0.1 * w.abs().max());
      const auto outside = ((g - w).abs() > bound).sum().item<int64_t>();
      INFO(outside << " of " << w.numel() << " elements outside");
      CHECK(outside == 0);
    }
  };
  one("y", got.y, want.y);
  for (size_t i = 0; i < 5; ++i) one(names[i], got.grads[i], want.grads[i]);
}

}  // namespace

TEST_CASE("wkv6 on CUDA with autograd matches the CPU kernel in float64", "[cuda]") {
  const auto device = gpu();
  struct Case {
    int64_t B, T, H, N;
    bool strong;
  };
  for (const Case c : {Case{2, 67, 3, 64, false}, Case{1, 1024, 2, 64, false}, Case{2, 300, 2, 64, true},
                       Case{3, 45, 2, 32, false}, Case{2, 80, 4, 16, true}}) {
    for (auto type : {torch::kFloat32, torch::kBFloat16}) {
      INFO("B " << c.B << " T " << c.T << " H " << c.H << " N " << c.N << (c.strong ? " strong decay " : " ") << type);
      auto in = vrwkv::test::random_wkv_inputs(c.B, c.T, c.H, c.N, torch::kFloat64, 77 + c.T + c.N);
      if (c.strong) in.w = torch::rand_like(in.w) * 2.0;  // keeps between exp(-1) and 6e-4 per step
      const auto dy = torch::randn_like(in.r);
      const auto u_type = type;  // a bf16 model holds a bf16 u
      const double tol = type == torch::kFloat32 ? 1e-4 : 2e-2;
      compare(run_op(in, dy, device, type, u_type), reference(in, dy, type, u_type), tol, c.strong);
    }
  }
}

TEST_CASE("wkv6 on CUDA: what the kernel does not cover is a clear error, never a host copy", "[cuda]") {
  const auto device = gpu();
  const auto in = vrwkv::test::random_wkv_inputs(1, 8, 2, 64, torch::kFloat64, 3);
  auto on = [&](const torch::Tensor& t, torch::ScalarType ty) { return t.to(device, ty); };
  REQUIRE_THROWS_WITH(vrwkv::wkv6(on(in.r, torch::kFloat64), on(in.k, torch::kFloat64), on(in.v, torch::kFloat64),
                                  on(in.w, torch::kFloat64), on(in.u, torch::kFloat64)),
                      contains("the CUDA kernel has no variant for r [1, 8, 128] Double"));
  const auto big = vrwkv::test::random_wkv_inputs(1, 8, 1, 128, torch::kFloat32, 4);
  REQUIRE_THROWS_WITH(vrwkv::wkv6(on(big.r, torch::kFloat32), on(big.k, torch::kFloat32), on(big.v, torch::kFloat32),
                                  on(big.w, torch::kFloat32), on(big.u, torch::kFloat32)),
                      contains("u [1, 128] Float"));
  REQUIRE_THROWS_WITH(vrwkv::wkv6(on(in.r, torch::kFloat32), in.k.to(torch::kFloat32), on(in.v, torch::kFloat32),
                                  on(in.w, torch::kFloat32), on(in.u, torch::kFloat32)),
                      contains("inputs on cuda:0 and cpu"));
}

TEST_CASE("recurrent state on CUDA: chunks from a state stay on the device and match the CPU", "[cuda]") {
  const auto device = gpu();
  const auto in = vrwkv::test::random_wkv_inputs(2, 40, 2, 64, torch::kFloat32, 8);
  const auto state0 = torch::randn({2, 2, 64, 64});
  const auto [y_cpu, s_cpu] = vrwkv::wkv6_forward_with_state(in.r, in.k, in.v, in.w, in.u, state0);
  auto s = state0.to(device);
  const auto y = vrwkv::wkv6_from_state_ops(in.r.to(device), in.k.to(device), in.v.to(device), in.w.to(device),
                                            in.u.to(device), s);
  CHECK(y.device() == device);
  CHECK(s.device() == device);
  CHECK(relative_error(y.cpu(), y_cpu) < 1e-4);
  CHECK(relative_error(s.cpu(), s_cpu) < 1e-4);
}
