// The CUDA path on a GPU (run by `make gpu-check`, tag [cuda]; not registered with CTest, since CI
// has no GPU): the wkv6 and wkv7 operators (wkv7 per step and chunked) with autograd on CUDA against
// the CPU kernels in float64 (which test_wkv6 / test_wkv7 check against their references), strong
// decay or strong in-context removal element by element, zero-padded small heads, the clear errors for
// what the kernels do not cover, the recurrent state's device path, the chunked WKV7's state scan
// kernel, and RWKV-7 on CUDA against the float64 reference model. Without a GPU every test here fails:
// gpu-check runs them only where torch sees one.
#include <torch/torch.h>

#include <functional>

#include "catch_compat.h"
#include "infer/recurrent.h"
#include "model/wkv6.h"
#include "model/rwkv7.h"
#include "model/wkv6_state.h"
#include "model/wkv7.h"
#include "model/split_bf16_matmul.h"
#include "model/state_scan.h"
#include "model/wkv7_chunked.h"
#include "rwkv7_reference.h"
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

// got (any device and dtype) against want (float64 on the CPU): finite, within tol relative to the
// whole; with `elementwise`, every element within tol of itself plus a tenth of the largest (small
// values count too).
void check_matches(const char* what, const torch::Tensor& got, const torch::Tensor& want, double tol,
                   bool elementwise) {
  INFO(what);
  const auto g = got.detach().to(torch::kCPU, torch::kFloat64);
  CHECK(torch::isfinite(g).all().item<bool>());
  CHECK(relative_error(g, want) < tol);
  if (elementwise) {
    const auto bound = tol * (want.abs() + 0.1 * want.abs().max());
    const auto outside = ((g - want).abs() > bound).sum().item<int64_t>();
    INFO(outside << " of " << want.numel() << " elements outside");
    CHECK(outside == 0);
  }
}

void compare(const Outputs& got, const Outputs& want, double tol, bool elementwise) {
  const char* names[] = {"dr", "dk", "dv", "dw", "du"};
  check_matches("y", got.y, want.y, tol, elementwise);
  for (size_t i = 0; i < 5; ++i) check_matches(names[i], got.grads[i], want.grads[i], tol, elementwise);
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

namespace {

using Wkv7Op = std::function<torch::Tensor(const std::vector<torch::Tensor>&, int64_t)>;

torch::Tensor per_step_op(const std::vector<torch::Tensor>& x, int64_t N) {
  return vrwkv::wkv7(x[0], x[1], x[2], x[3], x[4], x[5], N);
}

torch::Tensor chunked_op(const std::vector<torch::Tensor>& x, int64_t N) {
  return vrwkv::wkv7_chunked(x[0], x[1], x[2], x[3], x[4], x[5], N).first;
}

// A WKV7 operator with autograd on `device` in `type` against the CPU kernel in float64 on the same
// rounded inputs, loss sum(y * dy): y and the six gradients.
void compare_wkv7(const vrwkv::test::Wkv7Inputs& in, torch::Device device, torch::ScalarType type, double tol,
                  bool elementwise, const Wkv7Op& op = per_step_op) {
  const auto dy = torch::randn_like(in.r).to(torch::kFloat32);
  std::vector<torch::Tensor> rounded, leaves;
  for (const auto* t : {&in.r, &in.w, &in.k, &in.v, &in.alpha, &in.beta}) {
    rounded.push_back(t->to(type).to(torch::kFloat64));
    leaves.push_back(t->to(device, type).detach().requires_grad_(true));
  }
  auto y = op(leaves, in.N);
  CHECK(y.device() == device);
  CHECK(y.scalar_type() == type);
  (y.to(torch::kFloat32) * dy.to(device)).sum().backward();
  const auto& x = rounded;
  const auto y64 = vrwkv::wkv7_forward_cpu(x[0], x[1], x[2], x[3], x[4], x[5], in.N).first;
  const auto g64 = vrwkv::wkv7_backward_cpu(x[0], x[1], x[2], x[3], x[4], x[5], in.N, dy.to(torch::kFloat64));
  const char* names[] = {"dr", "dw", "dk", "dv", "dalpha", "dbeta"};
  check_matches("y", y, y64, tol, elementwise);
  for (int n = 0; n < 6; ++n) {
    REQUIRE(leaves[n].grad().defined());
    CHECK(leaves[n].grad().device() == device);
    check_matches(names[n], leaves[n].grad(), g64[n], tol, elementwise);
  }
}

}  // namespace

TEST_CASE("wkv7 on CUDA with autograd matches the CPU kernel in float64", "[cuda]") {
  const auto device = gpu();
  struct Case {
    int64_t B, T, H, N;
    double a_min;  // 0.999: strong in-context removal
  };
  // T not a multiple of 16 (the last snapshot closes a short chunk), long T, strong removal, small heads
  // (zero-padded to 64).
  for (const Case c : {Case{2, 67, 3, 64, 0.0}, Case{1, 1024, 2, 64, 0.0}, Case{2, 300, 2, 64, 0.999},
                       Case{3, 45, 2, 32, 0.0}, Case{2, 80, 4, 16, 0.999}}) {
    for (auto type : {torch::kFloat32, torch::kBFloat16}) {
      INFO("B " << c.B << " T " << c.T << " H " << c.H << " N " << c.N << " a_min " << c.a_min << " " << type);
      const auto in = vrwkv::test::random_wkv7_inputs(c.B, c.T, c.H, c.N, torch::kFloat64, 91 + c.T + c.N, c.a_min);
      // float32: the fixtures README's tolerance for gradients; bfloat16 outputs round to 8 bits.
      const double tol = type == torch::kFloat32 ? 1e-3 : 2e-2;
      compare_wkv7(in, device, type, tol, c.a_min > 0);
    }
  }
}

TEST_CASE("chunk_state_scan's CUDA kernel gives the CPU's states and gradients", "[cuda]") {
  // 130 chunks (T 2080), 6 = B x H, 64 x 64 states: the kernel's forward scan and its reverse,
  // transposed scan in the backward, against the CPU loop in float64 on the same float32 values.
  const auto device = gpu();
  torch::manual_seed(21);
  const int64_t count = 130, batch = 6, N = 64;
  const auto A = torch::eye(N) * 0.97 + 0.02 * torch::randn({count, batch, N, N}) / 8.0;
  const auto H = torch::randn({count, batch, N, N}), S0 = torch::randn({batch, N, N});
  const auto w_starts = torch::randn({count, batch, N, N}), w_last = torch::randn({batch, N, N});
  auto run = [&](torch::Device on, torch::ScalarType type) {
    std::vector<torch::Tensor> x;
    for (const auto* t : {&A, &H, &S0}) x.push_back(t->to(on, type).requires_grad_(true));
    auto [starts, last] = vrwkv::chunk_state_scan(x[0], x[1], x[2]);
    ((starts * w_starts.to(on, type)).sum() + (last * w_last.to(on, type)).sum()).backward();
    CHECK(starts.device() == on);
    return std::vector<torch::Tensor>{starts, last, x[0].grad(), x[1].grad(), x[2].grad()};
  };
  const auto gpu_out = run(device, torch::kFloat32), cpu_out = run(torch::kCPU, torch::kFloat64);
  const char* names[] = {"starts", "last", "dA", "dH", "dS0"};
  for (int i = 0; i < 5; ++i) {
    INFO(names[i]);
    CHECK(relative_error(gpu_out[i], cpu_out[i]) < 1e-4);  // float32 against float64: the README's 1e-4
  }
}

TEST_CASE("wkv7_chunked on CUDA with autograd matches the CPU kernel in float64; its state stays there", "[cuda]") {
  const auto device = gpu();
  struct Case {
    int64_t B, T, H, N;
    double a_min;
  };
  for (const Case c : {Case{2, 67, 3, 64, 0.0}, Case{1, 1024, 2, 64, 0.0}, Case{2, 300, 2, 64, 0.999},
                       Case{3, 45, 2, 32, 0.0}}) {
    for (auto type : {torch::kFloat32, torch::kBFloat16}) {
      INFO("B " << c.B << " T " << c.T << " H " << c.H << " N " << c.N << " a_min " << c.a_min << " " << type);
      const auto in = vrwkv::test::random_wkv7_inputs(c.B, c.T, c.H, c.N, torch::kFloat64, 93 + c.T + c.N, c.a_min);
      const double tol = type == torch::kFloat32 ? 1e-3 : 2e-2;  // as for the per-step kernel above
      compare_wkv7(in, device, type, tol, c.a_min > 0, chunked_op);
    }
  }
  const auto in = vrwkv::test::random_wkv7_inputs(2, 40, 2, 64, torch::kFloat32, 9);
  const auto state0 = torch::randn({2, 2, 64, 64});
  const auto [y_cpu, s_cpu] = vrwkv::wkv7_forward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, 64, state0);
  auto on = [&](const torch::Tensor& t) { return t.to(device); };
  const auto [y, s] =
      vrwkv::wkv7_chunked(on(in.r), on(in.w), on(in.k), on(in.v), on(in.alpha), on(in.beta), 64, on(state0));
  CHECK(s.device() == device);
  CHECK(relative_error(y.cpu(), y_cpu) < 1e-4);
  CHECK(relative_error(s.cpu(), s_cpu) < 1e-4);
  // bfloat16 inputs on CUDA take the split bfloat16 state products (cuBLAS, tensor cores) by default:
  // the state keeps float32's 1e-4 against float64 on the same rounded inputs, as the plain float32
  // products do; strong removal too.
  for (const double a_min : {0.0, 0.999}) {
    INFO("a_min " << a_min);
    const auto in64 = vrwkv::test::random_wkv7_inputs(2, 300, 2, 64, torch::kFloat64, 17, a_min);
    std::vector<torch::Tensor> x, x64;
    for (const auto* t : {&in64.r, &in64.w, &in64.k, &in64.v, &in64.alpha, &in64.beta}) {
      x.push_back(t->to(device, torch::kBFloat16));
      x64.push_back(x.back().cpu().to(torch::kFloat64));
    }
    const auto s64 =
        vrwkv::wkv7_forward_cpu(x64[0], x64[1], x64[2], x64[3], x64[4], x64[5], 64, state0.to(torch::kFloat64)).second;
    const auto s_split = vrwkv::wkv7_chunked(x[0], x[1], x[2], x[3], x[4], x[5], 64, on(state0)).second;
    const auto s_float = vrwkv::wkv7_chunked(x[0], x[1], x[2], x[3], x[4], x[5], 64, on(state0),
                                             vrwkv::Wkv7StateProducts::kFloat32).second;
    CHECK(relative_error(s_split.cpu(), s64) < 1e-4);
    CHECK(relative_error(s_float.cpu(), s64) < 1e-4);
  }
}

TEST_CASE("split_bf16_matmul on CUDA (cuBLAS, bfloat16 operands, float32 result) keeps its 3 * 2^-16 bound",
          "[cuda]") {
  const auto device = gpu();
  torch::manual_seed(22);
  const auto a = torch::randn({4, 16, 64}), b = torch::randn({4, 64, 48}), g = torch::randn({4, 16, 48});
  auto ad = a.to(device).requires_grad_(true), bd = b.to(device).requires_grad_(true);
  const auto c = vrwkv::split_bf16_matmul(ad, bd);
  CHECK(c.device() == device);
  CHECK(c.scalar_type() == torch::kFloat32);
  c.backward(g.to(device));
  const auto worst = vrwkv::test::product_relative_error;
  CHECK(worst(c, a, b) < 3.0 / 65536);
  CHECK(worst(ad.grad(), g, b.transpose(1, 2)) < 3.0 / 65536);
  CHECK(worst(bd.grad(), a.transpose(1, 2), g) < 3.0 / 65536);
}

TEST_CASE("wkv7 on CUDA: chunks from a state stay on the device and match the CPU; errors are clear", "[cuda]") {
  const auto device = gpu();
  for (int64_t N : {64, 16}) {
    INFO("N " << N);
    const auto in = vrwkv::test::random_wkv7_inputs(2, 40, 2, N, torch::kFloat32, 8);
    const auto state0 = torch::randn({2, 2, N, N});
    const auto [y_cpu, s_cpu] = vrwkv::wkv7_forward_cpu(in.r, in.w, in.k, in.v, in.alpha, in.beta, N, state0);
    auto on = [&](const torch::Tensor& t) { return t.to(device); };
    const auto [y, s] = vrwkv::wkv7_forward_from_state(on(in.r), on(in.w), on(in.k), on(in.v), on(in.alpha),
                                                       on(in.beta), N, on(state0));
    CHECK(y.device() == device);
    CHECK(s.device() == device);
    CHECK(s.scalar_type() == torch::kFloat32);
    CHECK(relative_error(y.cpu(), y_cpu) < 1e-4);
    CHECK(relative_error(s.cpu(), s_cpu) < 1e-4);
  }
  const auto in = vrwkv::test::random_wkv7_inputs(1, 8, 2, 64, torch::kFloat64, 3);
  auto on = [&](const torch::Tensor& t, torch::ScalarType ty) { return t.to(device, ty); };
  REQUIRE_THROWS_WITH(vrwkv::wkv7(on(in.r, torch::kFloat64), on(in.w, torch::kFloat64), on(in.k, torch::kFloat64),
                                  on(in.v, torch::kFloat64), on(in.alpha, torch::kFloat64),
                                  on(in.beta, torch::kFloat64), 64),
                      contains("the CUDA kernel has no variant for r [1, 8, 128] Double"));
  REQUIRE_THROWS_WITH(vrwkv::wkv7(on(in.r, torch::kFloat32), in.w.to(torch::kFloat32), on(in.k, torch::kFloat32),
                                  on(in.v, torch::kFloat32), on(in.alpha, torch::kFloat32),
                                  on(in.beta, torch::kFloat32), 64),
                      contains("inputs on cuda:0 and cpu"));
}

TEST_CASE("RWKV-7 on CUDA in float32 equals the float64 reference model", "[cuda]") {
  const auto device = gpu();
  vrwkv::Rwkv7Config c;
  c.n_layer = 2;
  c.n_embd = 128;
  c.vocab_size = 300;
  torch::manual_seed(21);
  vrwkv::RWKV7 model(c);
  {
    // Away from the init's zeros, so every path carries signal.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(0.05 * torch::randn_like(p));
  }
  vrwkv::test::Params params;
  for (auto& item : model->named_parameters()) params[item.key()] = item.value().detach().clone();
  const auto x = torch::randn({2, 40, 128}, torch::kFloat64);
  const auto expected = vrwkv::test::reference_rwkv7(params, x, c.n_layer, c.head_size);
  model->to(device);
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(x.to(device, torch::kFloat32));
  CHECK(logits.device() == device);
  CHECK(relative_error(logits.cpu(), expected) < 1e-4);
  // Decoding in chunks from states on the device gives the same (the first chunk, 24 long, gets the
  // same 8 pads as the whole 40).
  std::vector<vrwkv::LayerState> states(c.n_layer);
  const auto x32 = x.to(device, torch::kFloat32);
  const auto first = model->forward_hidden(x32.narrow(1, 0, 24), &states, true);
  const auto rest = model->forward_hidden(x32.narrow(1, 24, 16), &states, false);
  CHECK(states[0].wkv.device() == device);
  CHECK(relative_error(model->head(torch::cat({first, rest}, 1)).cpu(), expected) < 1e-4);
}
