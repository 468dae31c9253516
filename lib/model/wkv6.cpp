#include "model/wkv6.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "base/error.h"
#include "base/build_config.h"
#if VRWKV_WITH_CUDA
#include "model/cuda/wkv6_cuda.h"
#endif

namespace vrwkv {
namespace {

// The backward recomputes states chunk by chunk from checkpoints taken every kChunk steps, so
// memory per (batch, head) stays O((T / kChunk + kChunk) * N^2) instead of O(T * N^2).
constexpr int64_t kChunk = 32;

struct Shape {
  int64_t B, T, H, N;
  int64_t offset(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * N; }
};

Shape check_inputs(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& w, const torch::Tensor& u) {
  VRWKV_CHECK(r.dim() == 3, "wkv6: r must be [B, T, C], got ", r.sizes());
  VRWKV_CHECK(u.dim() == 2, "wkv6: u must be [H, N], got ", u.sizes());
  for (const auto* t : {&k, &v, &w})
    VRWKV_CHECK(t->sizes() == r.sizes(), "wkv6: r, k, v, w must have one shape; got ", r.sizes(), " and ",
                t->sizes());
  const int64_t H = u.size(0), N = u.size(1);
  VRWKV_CHECK(H * N == r.size(2), "wkv6: u ", u.sizes(), " does not match C = ", r.size(2));
  return {r.size(0), r.size(1), H, N};
}

// state_io [B, H, N, N] (nullable): the state before step 0 on entry, the state after the last step on exit.
template <typename scalar_t>
void forward_kernel(const Shape& s, const scalar_t* r, const scalar_t* k, const scalar_t* v,
                    const scalar_t* w, const scalar_t* u, scalar_t* y, scalar_t* state_io = nullptr) {
  const int64_t N = s.N;
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> state(N * N), out(N), decay(N);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      if (state_io)
        std::copy(state_io + bh * N * N, state_io + (bh + 1) * N * N, state.begin());
      else
        std::fill(state.begin(), state.end(), scalar_t(0));
      const scalar_t* uh = u + h * N;
      for (int64_t t = 0; t < s.T; ++t) {
        const int64_t o = s.offset(b, t, h);
        const scalar_t *rt = r + o, *kt = k + o, *vt = v + o, *wt = w + o;
        scalar_t ruk = 0;
        for (int64_t i = 0; i < N; ++i) {
          ruk += rt[i] * uh[i] * kt[i];
          decay[i] = std::exp(-std::exp(wt[i]));
        }
        for (int64_t j = 0; j < N; ++j) out[j] = ruk * vt[j];
        for (int64_t i = 0; i < N; ++i) {
          scalar_t* Si = state.data() + i * N;
          const scalar_t ri = rt[i], di = decay[i], ki = kt[i];
          for (int64_t j = 0; j < N; ++j) {
            out[j] += ri * Si[j];
            Si[j] = Si[j] * di + ki * vt[j];
          }
        }
        for (int64_t j = 0; j < N; ++j) y[o + j] = out[j];
      }
      if (state_io) std::copy(state.begin(), state.end(), state_io + bh * N * N);
    }
  });
}

template <typename scalar_t>
void backward_kernel(const Shape& s, const scalar_t* r, const scalar_t* k, const scalar_t* v,
                     const scalar_t* w, const scalar_t* u, const scalar_t* dy, scalar_t* dr, scalar_t* dk,
                     scalar_t* dv, scalar_t* dw, scalar_t* du_per_batch /* [B, H, N] */) {
  const int64_t N = s.N, NN = N * N;
  const int64_t n_chunks = (s.T + kChunk - 1) / kChunk;
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> checkpoints(n_chunks * NN), states((kChunk + 1) * NN), grad_state(NN);
    std::vector<scalar_t> decay(N), du(N), dv_t(N);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const scalar_t* uh = u + h * N;
      auto step_state = [&](const scalar_t* prev, scalar_t* next, int64_t t) {
        const int64_t o = s.offset(b, t, h);
        for (int64_t i = 0; i < N; ++i) {
          const scalar_t di = std::exp(-std::exp(w[o + i])), ki = k[o + i];
          for (int64_t j = 0; j < N; ++j) next[i * N + j] = prev[i * N + j] * di + ki * v[o + j];
        }
      };
      // Pass 1: the state at the start of every chunk.
      std::fill(checkpoints.begin(), checkpoints.begin() + NN, scalar_t(0));
      for (int64_t c = 1; c < n_chunks; ++c) {
        std::copy(checkpoints.begin() + (c - 1) * NN, checkpoints.begin() + c * NN, states.begin());
        for (int64_t t = (c - 1) * kChunk, s_i = 0; t < c * kChunk; ++t, ++s_i)
          step_state(states.data() + s_i * NN, states.data() + (s_i + 1) * NN, t);
        std::copy(states.begin() + kChunk * NN, states.begin() + (kChunk + 1) * NN,
                  checkpoints.begin() + c * NN);
      }
      // Pass 2: chunks in reverse; grad_state holds dL/dS_t, the gradient of the state after step t.
      std::fill(grad_state.begin(), grad_state.end(), scalar_t(0));
      std::fill(du.begin(), du.end(), scalar_t(0));
      for (int64_t c = n_chunks - 1; c >= 0; --c) {
        const int64_t t0 = c * kChunk, t1 = std::min(s.T, t0 + kChunk);
        std::copy(checkpoints.begin() + c * NN, checkpoints.begin() + (c + 1) * NN, states.begin());
        for (int64_t t = t0; t < t1 - 1; ++t)
          step_state(states.data() + (t - t0) * NN, states.data() + (t - t0 + 1) * NN, t);
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const scalar_t* prev = states.data() + (t - t0) * NN;  // the state before step t
          const int64_t o = s.offset(b, t, h);
          const scalar_t *rt = r + o, *kt = k + o, *vt = v + o, *wt = w + o, *gy = dy + o;
          scalar_t gy_v = 0, ruk = 0;
          for (int64_t j = 0; j < N; ++j) gy_v += gy[j] * vt[j];
          for (int64_t i = 0; i < N; ++i) {
            ruk += rt[i] * uh[i] * kt[i];
            decay[i] = std::exp(-std::exp(wt[i]));
          }
          for (int64_t j = 0; j < N; ++j) dv_t[j] = ruk * gy[j];
          for (int64_t i = 0; i < N; ++i) {
            scalar_t* Gi = grad_state.data() + i * N;
            const scalar_t* Pi = prev + i * N;
            const scalar_t ri = rt[i], ki = kt[i], di = decay[i];
            scalar_t gy_prev = 0, g_v = 0, g_prev = 0;
            for (int64_t j = 0; j < N; ++j) {
              gy_prev += gy[j] * Pi[j];
              g_v += Gi[j] * vt[j];
              g_prev += Gi[j] * Pi[j];
              dv_t[j] += Gi[j] * ki;
              Gi[j] = Gi[j] * di + ri * gy[j];  // becomes dL/dS_{t-1}
            }
            dr[o + i] = uh[i] * ki * gy_v + gy_prev;
            dk[o + i] = ri * uh[i] * gy_v + g_v;
            dw[o + i] = -g_prev * di * std::exp(wt[i]);
            du[i] += ri * ki * gy_v;
          }
          for (int64_t j = 0; j < N; ++j) dv[o + j] = dv_t[j];
        }
      }
      std::copy(du.begin(), du.end(), du_per_batch + (b * s.H + h) * N);
    }
  });
}

// The CPU kernels run in float64 for float64 inputs and in float32 for everything else.
torch::ScalarType compute_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor prepared(const torch::Tensor& t, torch::ScalarType type) {
  return t.to(torch::kCPU, type).contiguous();
}

}  // namespace

torch::Tensor wkv6_forward_cpu(const torch::Tensor& r_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                               const torch::Tensor& w_in, const torch::Tensor& u_in) {
  const Shape s = check_inputs(r_in, k_in, v_in, w_in, u_in);
  const auto type = compute_type(r_in);
  auto r = prepared(r_in, type), k = prepared(k_in, type), v = prepared(v_in, type);
  auto w = prepared(w_in, type), u = prepared(u_in, type);
  auto y = torch::empty_like(r);
  AT_DISPATCH_FLOATING_TYPES(type, "wkv6_forward_cpu", [&] {
    forward_kernel<scalar_t>(s, r.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                             w.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), y.data_ptr<scalar_t>());
  });
  return y.to(r_in.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> wkv6_forward_with_state(const torch::Tensor& r_in, const torch::Tensor& k_in,
                                                                const torch::Tensor& v_in, const torch::Tensor& w_in,
                                                                const torch::Tensor& u_in,
                                                                const torch::Tensor& state0) {
  const Shape s = check_inputs(r_in, k_in, v_in, w_in, u_in);
  const auto type = compute_type(r_in);
  auto r = prepared(r_in, type), k = prepared(k_in, type), v = prepared(v_in, type);
  auto w = prepared(w_in, type), u = prepared(u_in, type);
  torch::Tensor state;
  if (state0.defined()) {
    VRWKV_CHECK(state0.sizes() == torch::IntArrayRef({s.B, s.H, s.N, s.N}), "wkv6: state must be [", s.B, ", ", s.H,
                ", ", s.N, ", ", s.N, "], got ", state0.sizes());
    state = state0.to(torch::kCPU, type, /*non_blocking=*/false, /*copy=*/true).contiguous();  // never aliases state0
  } else {
    state = torch::zeros({s.B, s.H, s.N, s.N}, r.options());
  }
  auto y = torch::empty_like(r);
  AT_DISPATCH_FLOATING_TYPES(type, "wkv6_forward_with_state", [&] {
    forward_kernel<scalar_t>(s, r.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                             w.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                             state.data_ptr<scalar_t>());
  });
  return {y.to(r_in.device(), r_in.scalar_type()), state.to(r_in.device())};
}

std::vector<torch::Tensor> wkv6_backward_cpu(const torch::Tensor& r_in, const torch::Tensor& k_in,
                                             const torch::Tensor& v_in, const torch::Tensor& w_in,
                                             const torch::Tensor& u_in, const torch::Tensor& dy_in) {
  const Shape s = check_inputs(r_in, k_in, v_in, w_in, u_in);
  VRWKV_CHECK(dy_in.sizes() == r_in.sizes(), "wkv6: dy ", dy_in.sizes(), " must match r ", r_in.sizes());
  const auto type = compute_type(r_in);
  auto r = prepared(r_in, type), k = prepared(k_in, type), v = prepared(v_in, type);
  auto w = prepared(w_in, type), u = prepared(u_in, type), dy = prepared(dy_in, type);
  auto dr = torch::empty_like(r), dk = torch::empty_like(r), dv = torch::empty_like(r), dw = torch::empty_like(r);
  auto du_per_batch = torch::empty({s.B, s.H, s.N}, r.options());
  AT_DISPATCH_FLOATING_TYPES(type, "wkv6_backward_cpu", [&] {
    backward_kernel<scalar_t>(s, r.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                              w.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(),
                              dr.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>(),
                              dw.data_ptr<scalar_t>(), du_per_batch.data_ptr<scalar_t>());
  });
  auto du = du_per_batch.sum(0);
  return {dr.to(r_in.scalar_type()), dk.to(k_in.scalar_type()), dv.to(v_in.scalar_type()),
          dw.to(w_in.scalar_type()), du.to(u_in.scalar_type())};
}

namespace {

#if VRWKV_WITH_CUDA
// CUDA tensors go to the CUDA kernel, never through the host. It covers head sizes that divide 64
// (smaller heads are zero-padded to 64, see pad_heads) with bf16 or float32 r, k, v, w and a
// float32 or bf16 u; anything else is an error naming what it got.
void check_cuda_coverage(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                         const torch::Tensor& w, const torch::Tensor& u) {
  const auto t = r.scalar_type();
  const bool dtypes_ok = (t == torch::kBFloat16 || t == torch::kFloat32) && k.scalar_type() == t &&
                         v.scalar_type() == t && w.scalar_type() == t &&
                         (u.scalar_type() == torch::kFloat32 || u.scalar_type() == torch::kBFloat16);
  const int64_t N = u.dim() == 2 ? u.size(1) : 0;
  VRWKV_CHECK(dtypes_ok && N > 0 && kWkv6KernelHeadSize % N == 0, "wkv6: the CUDA kernel has no variant for r ",
              r.sizes(), " ", r.scalar_type(), ", k ", k.scalar_type(), ", v ", v.scalar_type(), ", w ",
              w.scalar_type(), ", u ", u.sizes(), " ", u.scalar_type(), " (it takes head sizes dividing ",
              kWkv6KernelHeadSize, ", r/k/v/w all bfloat16 or all float32, u float32 or bfloat16)");
  for (const auto* x : {&k, &v, &w, &u})
    VRWKV_CHECK(x->device() == r.device(), "wkv6: inputs on ", r.device(), " and ", x->device());
}
#endif

class WKV6Function : public torch::autograd::Function<WKV6Function> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& r,
                               const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                               const torch::Tensor& u) {
    ctx->save_for_backward({r, k, v, w, u});
#if VRWKV_WITH_CUDA
    if (r.is_cuda()) {
      const int64_t N = u.size(1);
      if (N == kWkv6KernelHeadSize) return wkv6_cuda_forward(r, k, v, w, u);
      const auto y = wkv6_cuda_forward(pad_heads(r, N, kWkv6KernelHeadSize), pad_heads(k, N, kWkv6KernelHeadSize),
                                       pad_heads(v, N, kWkv6KernelHeadSize), pad_heads(w, N, kWkv6KernelHeadSize),
                                       pad_heads(u, N, kWkv6KernelHeadSize));
      return unpad_heads(y, N, kWkv6KernelHeadSize);
    }
#endif
    return wkv6_forward_cpu(r, k, v, w, u);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
#if VRWKV_WITH_CUDA
    if (saved[0].is_cuda()) {
      const int64_t N = saved[4].size(1), P = kWkv6KernelHeadSize;
      if (N == P) {
        auto g = wkv6_cuda_backward(saved[0], saved[1], saved[2], saved[3], saved[4], grads[0]);
        return {g[0], g[1], g[2], g[3], g[4]};
      }
      auto g = wkv6_cuda_backward(pad_heads(saved[0], N, P), pad_heads(saved[1], N, P), pad_heads(saved[2], N, P),
                                  pad_heads(saved[3], N, P), pad_heads(saved[4], N, P), pad_heads(grads[0], N, P));
      return {unpad_heads(g[0], N, P), unpad_heads(g[1], N, P), unpad_heads(g[2], N, P), unpad_heads(g[3], N, P),
              unpad_heads(g[4], N, P)};
    }
#endif
    auto g = wkv6_backward_cpu(saved[0], saved[1], saved[2], saved[3], saved[4], grads[0]);
    return {g[0], g[1], g[2], g[3], g[4]};
  }
};

}  // namespace

torch::Tensor wkv6(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& w, const torch::Tensor& u) {
  check_inputs(r, k, v, w, u);
#if VRWKV_WITH_CUDA
  if (r.is_cuda()) {
    check_cuda_coverage(r, k, v, w, u);
    return WKV6Function::apply(r, k, v, w, u);
  }
#endif
  VRWKV_CHECK(r.device().is_cpu(), "wkv6: no kernel for device ", r.device(), " in this build",
              VRWKV_WITH_CUDA ? "" : " (the CUDA kernel is built with a CUDA-enabled libtorch)");
  for (const auto* x : {&k, &v, &w, &u})
    VRWKV_CHECK(x->device().is_cpu(), "wkv6: inputs on ", r.device(), " and ", x->device());
  return WKV6Function::apply(r, k, v, w, u);
}

}  // namespace vrwkv
