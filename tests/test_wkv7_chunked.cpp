// The chunked WKV7 formulation (model/wkv7_chunked.h) against the float64 per-step reference of
// rwkv7_reference.h and the CPU kernel (no fixture of the original's v7 exists yet): forward element by
// element across chunk boundaries and partial chunks, strong in-context removal, strong decay at the
// edge of the formulation's range, gradients through autograd against the kernel's backward, chunks
// continued from a state, bfloat16 inputs with float32 or split bfloat16 state products; the split
// product itself against float64.
#include <torch/torch.h>

#include "catch_compat.h"
#include "model/wkv7.h"
#include "model/split_bf16_matmul.h"
#include "model/state_scan.h"
#include "model/wkv7_chunked.h"
#include "rwkv7_reference.h"
#include "tensor_compare.h"
#include "wkv_inputs.h"

namespace {

using vrwkv::test::reference_wkv7;
using vrwkv::test::relative_error;
using vrwkv::test::Wkv7Inputs;

Wkv7Inputs to_type(const Wkv7Inputs& in, torch::ScalarType type) {
  return {in.r.to(type), in.w.to(type), in.k.to(type), in.v.to(type), in.alpha.to(type), in.beta.to(type), in.N};
}

using vrwkv::Wkv7StateProducts;

std::pair<torch::Tensor, torch::Tensor> chunked(const Wkv7Inputs& in, const torch::Tensor& state0 = {},
                                                Wkv7StateProducts products = Wkv7StateProducts::kAuto) {
  return vrwkv::wkv7_chunked(in.r, in.w, in.k, in.v, in.alpha, in.beta, in.N, state0, products);
}

torch::Tensor reference(const Wkv7Inputs& in, torch::Tensor* state = nullptr) {
  return reference_wkv7(in.r, in.w, in.k, in.v, in.alpha, in.beta, in.N, state);
}

// Largest |a - b| over all elements, relative to the reference's largest magnitude.
double max_elementwise_error(const torch::Tensor& a, const torch::Tensor& b) {
  const auto b64 = b.to(torch::kFloat64);
  return ((a.to(torch::kFloat64) - b64).abs().max() / b64.abs().max()).item<double>();
}

// The six gradients of sum(y * dy) through the chunked formulation's autograd.
std::vector<torch::Tensor> chunked_grads(const Wkv7Inputs& in, const torch::Tensor& dy,
                                         Wkv7StateProducts products = Wkv7StateProducts::kAuto) {
  std::vector<torch::Tensor> x;
  for (const auto* t : {&in.r, &in.w, &in.k, &in.v, &in.alpha, &in.beta}) x.push_back(t->detach().requires_grad_(true));
  auto y = vrwkv::wkv7_chunked(x[0], x[1], x[2], x[3], x[4], x[5], in.N, {}, products).first;
  (y * dy.to(y.scalar_type())).sum().backward();
  std::vector<torch::Tensor> g;
  for (const auto& t : x) g.push_back(t.grad());
  return g;
}

}  // namespace

TEST_CASE("wkv7_chunked forward and final state match the float64 reference element by element", "[wkv7]") {
  // T 5: one partial chunk; 16: exactly one; 37: two boundaries and a partial chunk; 64: the head size.
  for (auto [B, T, H, N] :
       {std::array<int64_t, 4>{2, 5, 2, 4}, {1, 16, 2, 8}, {1, 37, 3, 8}, {2, 48, 1, 64}, {1, 70, 2, 64}}) {
    INFO("B " << B << " T " << T << " H " << H << " N " << N);
    const auto in = vrwkv::test::random_wkv7_inputs(B, T, H, N, torch::kFloat64, 200 + T);
    torch::Tensor s_ref;
    const auto y_ref = reference(in, &s_ref);
    const auto [y, s] = chunked(in);
    CHECK(y.scalar_type() == torch::kFloat64);
    // float64 with a different association of the same sums (products, a triangular solve).
    CHECK(max_elementwise_error(y, y_ref) < 1e-12);
    CHECK(max_elementwise_error(s, s_ref) < 1e-12);
  }
}

TEST_CASE("wkv7_chunked with strong in-context removal (a near 1) stays on the float64 reference", "[wkv7]") {
  auto in64 = vrwkv::test::random_wkv7_inputs(2, 80, 2, 64, torch::kFloat64, 12, /*a_min=*/0.999);
  in64.w = torch::full_like(in64.w, -6.0);  // decay 0.9975: the state is nearly a projection each step
  const auto y64 = reference(in64);
  CHECK(max_elementwise_error(chunked(in64).first, y64) < 1e-12);
  // float32: the fixtures README's float32 tolerances, on every element of y and on the gradients.
  const auto in32 = to_type(in64, torch::kFloat32);
  const auto y32 = chunked(in32).first;
  CHECK(y32.scalar_type() == torch::kFloat32);
  CHECK(max_elementwise_error(y32, y64) < 1e-4);
  const auto dy = torch::randn_like(in64.r);
  const auto g64 = vrwkv::wkv7_backward_cpu(in64.r, in64.w, in64.k, in64.v, in64.alpha, in64.beta, 64, dy);
  const auto g32 = chunked_grads(in32, dy);
  for (size_t i = 0; i < g64.size(); ++i) {
    INFO("gradient " << "rwkvab"[i]);
    CHECK(relative_error(g32[i], g64[i]) < 1e-3);
  }
}

TEST_CASE("wkv7_chunked holds strong decay up to the edge of its float32 range", "[wkv7]") {
  // exp(w) = 4 on every step: a chunk's log decays sum to -64, so the factors e^{+-g} reach 6e27. The
  // model's clamp never goes past exp(w) = 0.61; this checks the range the header promises.
  auto in64 = vrwkv::test::random_wkv7_inputs(1, 40, 2, 16, torch::kFloat64, 13);
  in64.w = torch::full_like(in64.w, std::log(4.0));
  const auto y64 = reference(in64);
  const auto y32 = chunked(to_type(in64, torch::kFloat32)).first;
  REQUIRE(torch::isfinite(y32).all().item<bool>());
  CHECK(relative_error(y32, y64) < 1e-4);
}

TEST_CASE("wkv7_chunked gradients equal the CPU kernel's backward", "[wkv7]") {
  for (auto [B, T, H, N] : {std::array<int64_t, 4>{2, 21, 2, 8}, {1, 48, 2, 64}}) {
    INFO("B " << B << " T " << T << " H " << H << " N " << N);
    const auto in = vrwkv::test::random_wkv7_inputs(B, T, H, N, torch::kFloat64, 300 + T);
    const auto dy = torch::randn_like(in.r);
    const auto expected = vrwkv::wkv7_backward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, N, dy);
    const auto grads = chunked_grads(in, dy);
    for (size_t i = 0; i < grads.size(); ++i) {
      INFO("gradient " << "rwkvab"[i]);
      CHECK(relative_error(grads[i], expected[i]) < 1e-12);  // float64 both ways
    }
  }
}

TEST_CASE("wkv7_chunked continued from a state equals one pass; the state's gradient flows", "[wkv7]") {
  const auto in = vrwkv::test::random_wkv7_inputs(2, 45, 2, 8, torch::kFloat64, 14);
  const auto [y_all, s_all] = chunked(in);
  auto part = [&](int64_t from, int64_t len) {
    auto p = [&](const torch::Tensor& t) { return t.narrow(1, from, len); };
    return Wkv7Inputs{p(in.r), p(in.w), p(in.k), p(in.v), p(in.alpha), p(in.beta), in.N};
  };
  // Pieces of 19 (a chunk and a partial one), 1 (one decoding step) and 25.
  const auto [y1, s1] = chunked(part(0, 19));
  const auto [y2, s2] = chunked(part(19, 1), s1);
  const auto [y3, s3] = chunked(part(20, 25), s2);
  CHECK(relative_error(torch::cat({y1, y2, y3}, 1), y_all) < 1e-13);
  CHECK(relative_error(s3, s_all) < 1e-13);
  // The same continuation through the CPU kernel.
  const auto [y_kernel, s_kernel] = vrwkv::wkv7_forward_cpu(part(20, 25).r, part(20, 25).w, part(20, 25).k,
                                                            part(20, 25).v, part(20, 25).alpha, part(20, 25).beta,
                                                            in.N, s2);
  CHECK(relative_error(y3, y_kernel) < 1e-12);
  CHECK(relative_error(s3, s_kernel) < 1e-12);
  // d(sum y)/d state0 by autograd against central differences on one element.
  auto s0 = s2.detach().clone().requires_grad_(true);
  chunked(part(20, 25), s0).first.sum().backward();
  const double eps = 1e-6;
  auto bumped = [&](double by) {
    auto s = s2.detach().clone();
    s[1][0][3][5] += by;
    return chunked(part(20, 25), s).first.sum().item<double>();
  };
  const double numeric = (bumped(eps) - bumped(-eps)) / (2 * eps);
  CHECK(std::abs(s0.grad()[1][0][3][5].item<double>() - numeric) < 1e-6 * std::max(1.0, std::abs(numeric)));
}

TEST_CASE("wkv7_chunked on bfloat16 inputs keeps a float32 state and the float64 result to bfloat16's rounding",
          "[wkv7]") {
  // Plain and strong removal, with plain float32 and split bfloat16 state products (the CUDA default
  // for bfloat16, run here widened: the same products); against the CPU kernel in float64 on the same
  // rounded inputs, at the tolerance of the CUDA tests' bfloat16 cases (test_cuda: the outputs round to
  // 8 bits), y element by element and every gradient. The state is held to float32's 1e-4 both ways.
  for (const auto products : {Wkv7StateProducts::kFloat32, Wkv7StateProducts::kSplitBfloat16}) {
    for (const double a_min : {0.0, 0.999}) {
      INFO("split " << (products == Wkv7StateProducts::kSplitBfloat16) << " a_min " << a_min);
      const auto in = to_type(vrwkv::test::random_wkv7_inputs(2, 70, 2, 64, torch::kFloat64, 15, a_min),
                              torch::kBFloat16);
      const auto in64 = to_type(in, torch::kFloat64);
      const auto [y, s] = chunked(in, {}, products);
      CHECK(y.scalar_type() == torch::kBFloat16);
      CHECK(s.scalar_type() == torch::kFloat32);
      const auto [y64, s64] = vrwkv::wkv7_forward_cpu(in64.r, in64.w, in64.k, in64.v, in64.alpha, in64.beta, 64);
      CHECK(relative_error(s, s64) < 1e-4);
      CHECK(max_elementwise_error(y, y64) < 2e-2);
      const auto dy = torch::randn_like(in64.r).to(torch::kBFloat16).to(torch::kFloat64);  // as the bf16 run sees it
      const auto g64 = vrwkv::wkv7_backward_cpu(in64.r, in64.w, in64.k, in64.v, in64.alpha, in64.beta, 64, dy);
      const auto g = chunked_grads(in, dy, products);
      for (size_t i = 0; i < g.size(); ++i) {
        INFO("gradient " << "rwkvab"[i]);
        CHECK(g[i].scalar_type() == torch::kBFloat16);
        CHECK(relative_error(g[i], g64[i]) < 2e-2);
      }
    }
  }
  // On the CPU the default is the plain float32 products: bitwise the same.
  const auto in = to_type(vrwkv::test::random_wkv7_inputs(1, 20, 2, 16, torch::kFloat64, 16), torch::kBFloat16);
  CHECK(torch::equal(chunked(in).second, chunked(in, {}, Wkv7StateProducts::kFloat32).second));
}

TEST_CASE("wkv7_chunked with split bfloat16 state products on float32 inputs keeps float32's tolerances", "[wkv7]") {
  // Strong removal and decay as above: y element by element to the fixtures README's 1e-4 and the
  // gradients to 1e-3, as the plain float32 products are held.
  auto in64 = vrwkv::test::random_wkv7_inputs(2, 80, 2, 64, torch::kFloat64, 12, /*a_min=*/0.999);
  in64.w = torch::full_like(in64.w, -6.0);
  const auto in32 = to_type(in64, torch::kFloat32);
  torch::Tensor s64;
  const auto y64 = reference(in64, &s64);
  const auto [y, s] = chunked(in32, {}, Wkv7StateProducts::kSplitBfloat16);
  CHECK(max_elementwise_error(y, y64) < 1e-4);
  CHECK(relative_error(s, s64) < 1e-4);
  const auto dy = torch::randn_like(in64.r);
  const auto g64 = vrwkv::wkv7_backward_cpu(in64.r, in64.w, in64.k, in64.v, in64.alpha, in64.beta, 64, dy);
  const auto g = chunked_grads(in32, dy, Wkv7StateProducts::kSplitBfloat16);
  for (size_t i = 0; i < g64.size(); ++i) {
    INFO("gradient " << "rwkvab"[i]);
    CHECK(relative_error(g[i], g64[i]) < 1e-3);
  }
  CHECK_THROWS_WITH(chunked(in64, {}, Wkv7StateProducts::kSplitBfloat16),
                    vrwkv::test::contains("split bfloat16 state products are for float32 or bfloat16"));
}

TEST_CASE("split_bf16_matmul is within 3 * 2^-16 of |a| |b| of the float64 product, gradients too", "[wkv7]") {
  torch::manual_seed(21);
  // Entries over several orders of magnitude, so that the bound is checked on small and large ones.
  auto spread = [](std::vector<int64_t> sizes) {
    return torch::randn(sizes, torch::kFloat64) * torch::exp(2 * torch::randn(sizes, torch::kFloat64));
  };
  const auto a64 = spread({3, 2, 16, 64}), b64 = spread({3, 2, 64, 40});
  // The operands are float32, the bound is relative to the products of magnitudes, element by element.
  const auto within_bound = vrwkv::test::product_relative_error;
  auto a = a64.to(torch::kFloat32).requires_grad_(true), b = b64.to(torch::kFloat32).requires_grad_(true);
  const auto c = vrwkv::split_bf16_matmul(a, b);
  CHECK(c.scalar_type() == torch::kFloat32);
  CHECK(c.sizes() == torch::IntArrayRef({3, 2, 16, 40}));
  const double bound = 3.0 / 65536;
  CHECK(within_bound(c, a64, b64) < bound);
  // Plain bfloat16 operands miss the same bound: the split is what keeps the accuracy.
  const auto plain = torch::matmul(a.detach().to(torch::kBFloat16), b.detach().to(torch::kBFloat16));
  CHECK(within_bound(plain, a64, b64) > 10 * bound);
  const auto g = torch::randn({3, 2, 16, 40});
  c.backward(g);
  const auto g64 = g.to(torch::kFloat64);
  CHECK(within_bound(a.grad(), g64, b64.transpose(-1, -2)) < bound);
  CHECK(within_bound(b.grad(), a64.transpose(-1, -2), g64) < bound);
  CHECK_THROWS_WITH(vrwkv::split_bf16_matmul(a, b.narrow(2, 0, 10)), vrwkv::test::contains("are not [..., m, k]"));
  CHECK_THROWS_WITH(vrwkv::split_bf16_matmul(a64, b64), vrwkv::test::contains("float32 operands"));
}

TEST_CASE("chunk_state_scan gives the step-by-step states and autograd's gradients through them", "[wkv7]") {
  torch::manual_seed(16);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t count = 7, batch = 3, N = 5;
  // Transitions near the identity (as decays and removals make them), so the states stay bounded.
  const auto A = (torch::eye(N, o) * 0.9 + 0.1 * torch::randn({count, batch, N, N}, o)).requires_grad_(true);
  const auto H = torch::randn({count, batch, N, N}, o).requires_grad_(true);
  const auto S0 = torch::randn({batch, N, N}, o).requires_grad_(true);
  const auto [starts, last] = vrwkv::chunk_state_scan(A, H, S0);
  // By hand: the states one step at a time.
  std::vector<torch::Tensor> expected;
  auto S = S0;
  for (int64_t c = 0; c < count; ++c) {
    expected.push_back(S);
    S = torch::matmul(S, A[c]) + H[c];
  }
  CHECK(relative_error(starts, torch::stack(expected, 0)) < 1e-14);
  CHECK(relative_error(last, S) < 1e-14);
  // A loss on every start and on the last state, through the operator and through the plain loop.
  const auto w_starts = torch::randn({count, batch, N, N}, o), w_last = torch::randn({batch, N, N}, o);
  const auto ours = torch::autograd::grad({(starts * w_starts).sum() + (last * w_last).sum()}, {A, H, S0});
  const auto plain =
      torch::autograd::grad({(torch::stack(expected, 0) * w_starts).sum() + (S * w_last).sum()}, {A, H, S0}, {},
                            /*retain_graph=*/true);
  for (size_t i = 0; i < 3; ++i) {
    INFO("gradient of " << "AHS"[i]);
    CHECK(relative_error(ours[i], plain[i]) < 1e-13);
  }
  // Only the last state used: the starts' gradient is undefined inside, and taken as zero.
  const auto only_last = torch::autograd::grad({(vrwkv::chunk_state_scan(A, H, S0).second * w_last).sum()}, {H});
  const auto plain_last = torch::autograd::grad({(S * w_last).sum()}, {H});
  CHECK(relative_error(only_last[0], plain_last[0]) < 1e-13);
  CHECK_THROWS_WITH(vrwkv::chunk_state_scan(A, H, S0.narrow(0, 0, 2)), vrwkv::test::contains("the state must be"));
}

TEST_CASE("wkv7_chunked rejects mismatched shapes, devices of the state and head sizes", "[wkv7]") {
  const auto in = vrwkv::test::random_wkv7_inputs(1, 4, 2, 4, torch::kFloat32, 5);
  CHECK_THROWS_WITH(vrwkv::wkv7_chunked(in.r, in.w, in.k, in.v, in.alpha, in.beta, 3),
                    vrwkv::test::contains("not a multiple of head size 3"));
  CHECK_THROWS_WITH(vrwkv::wkv7_chunked(in.r, in.w, in.k.narrow(1, 0, 2), in.v, in.alpha, in.beta, 4),
                    vrwkv::test::contains("must have one shape"));
  CHECK_THROWS_WITH(vrwkv::wkv7_chunked(in.r, in.w, in.k, in.v, in.alpha, in.beta, 4, torch::zeros({1, 2, 4})),
                    vrwkv::test::contains("state must be [1, 2, 4, 4]"));
}
