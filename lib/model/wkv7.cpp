#include "model/wkv7.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "base/build_config.h"
#include "base/error.h"
#include "model/head_padding.h"
#if VRWKV_WITH_CUDA
#include "model/cuda/wkv7_cuda.h"
#include "model/cuda/wkv7_kernels.cuh"
#endif

namespace vrwkv {
namespace {

// The backward recomputes states chunk by chunk from snapshots taken every kChunk steps (as the
// original's kernel snapshots every 16), so memory per (batch, head) stays O((T / kChunk + kChunk) N^2).
// It recomputes forward from the snapshot rather than undoing steps (division by d): same cost, and
// no error growth when d is small.
constexpr int64_t kChunk = 16;

struct Shape : Wkv7Shape {
  int64_t offset(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * N; }
};

Shape check_inputs(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& alpha, const torch::Tensor& beta, int64_t head_size) {
  return {wkv7_shape(r, w, k, v, alpha, beta, head_size)};
}

// sum_j a[j] b[j] in four independent partial sums: without them the compiler must keep the strict
// left-to-right order and cannot use vector lanes.
template <typename scalar_t>
inline scalar_t dot(int64_t N, const scalar_t* __restrict a, const scalar_t* __restrict b) {
  scalar_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    p0 += a[j] * b[j];
    p1 += a[j + 1] * b[j + 1];
    p2 += a[j + 2] * b[j + 2];
    p3 += a[j + 3] * b[j + 3];
  }
  for (; j < N; ++j) p0 += a[j] * b[j];
  return (p0 + p1) + (p2 + p3);
}

// One step on one head's state S [N x N] (row i: value channel): s = S alpha with the old state,
// then S = S diag(d) + s beta^T + v k^T. `s` receives S alpha.
template <typename scalar_t>
inline void step_state(int64_t N, scalar_t* __restrict S, const scalar_t* __restrict d,
                       const scalar_t* __restrict alpha, const scalar_t* __restrict beta,
                       const scalar_t* __restrict k, const scalar_t* __restrict v, scalar_t* __restrict s) {
  for (int64_t i = 0; i < N; ++i) {
    scalar_t* __restrict Si = S + i * N;
    const scalar_t acc = dot(N, alpha, Si);
    s[i] = acc;
    const scalar_t vi = v[i];
    for (int64_t j = 0; j < N; ++j) Si[j] = Si[j] * d[j] + acc * beta[j] + vi * k[j];
  }
}

template <typename scalar_t>
inline void decay_of(int64_t N, const scalar_t* w, scalar_t* d) {
  for (int64_t j = 0; j < N; ++j) d[j] = std::exp(-std::exp(w[j]));
}

// state_io [B, H, N, N]: the state before step 0 on entry, the state after the last step on exit.
template <typename scalar_t>
void forward_kernel(const Shape& s, const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                    const scalar_t* alpha, const scalar_t* beta, scalar_t* y, scalar_t* state_io) {
  const int64_t N = s.N;
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> d(N), sa(N);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      scalar_t* S = state_io + bh * N * N;
      for (int64_t t = 0; t < s.T; ++t) {
        const int64_t o = s.offset(b, t, h);
        decay_of(N, w + o, d.data());
        step_state(N, S, d.data(), alpha + o, beta + o, k + o, v + o, sa.data());
        const scalar_t* rt = r + o;
        for (int64_t i = 0; i < N; ++i) y[o + i] = dot(N, S + i * N, rt);
      }
    }
  });
}

// Gradients for a forward from zeros. G holds dL/dS_t, the gradient of the state after step t:
//   G += dy r^T;  dr = S_t^T dy;  dv = G k;  dk = G^T v;  dbeta = G^T s;  ds = G beta;
//   dd = column sums of G * S_{t-1};  dalpha = S_{t-1}^T ds;  G <- G diag(d) + ds alpha^T (= dL/dS_{t-1}).
template <typename scalar_t>
void backward_kernel(const Shape& s, const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                     const scalar_t* alpha, const scalar_t* beta, const scalar_t* dy, scalar_t* dr, scalar_t* dw,
                     scalar_t* dk, scalar_t* dv, scalar_t* dalpha, scalar_t* dbeta) {
  const int64_t N = s.N, NN = N * N;
  const int64_t n_chunks = (s.T + kChunk - 1) / kChunk;
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    // states[m]: the state before step t0 + m of the current chunk (m = 0..kChunk).
    std::vector<scalar_t> snapshots(n_chunks * NN), states((kChunk + 1) * NN), G(NN);
    std::vector<scalar_t> d(N), sa((kChunk)*N), ds(N), col_k(N), col_b(N), col_d(N), col_a(N), col_r(N);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      // Pass 1: the state at the start of every chunk.
      std::fill(snapshots.begin(), snapshots.begin() + NN, scalar_t(0));
      std::fill(states.begin(), states.begin() + NN, scalar_t(0));
      for (int64_t c = 1; c < n_chunks; ++c) {
        for (int64_t t = (c - 1) * kChunk; t < c * kChunk; ++t) {
          const int64_t o = s.offset(b, t, h);
          decay_of(N, w + o, d.data());
          step_state(N, states.data(), d.data(), alpha + o, beta + o, k + o, v + o, sa.data());
        }
        std::copy(states.begin(), states.begin() + NN, snapshots.begin() + c * NN);
      }
      // Pass 2: chunks in reverse.
      std::fill(G.begin(), G.end(), scalar_t(0));
      for (int64_t c = n_chunks - 1; c >= 0; --c) {
        const int64_t t0 = c * kChunk, t1 = std::min(s.T, t0 + kChunk);
        std::copy(snapshots.begin() + c * NN, snapshots.begin() + (c + 1) * NN, states.begin());
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t o = s.offset(b, t, h), m = t - t0;
          std::copy(states.begin() + m * NN, states.begin() + (m + 1) * NN, states.begin() + (m + 1) * NN);
          decay_of(N, w + o, d.data());
          step_state(N, states.data() + (m + 1) * NN, d.data(), alpha + o, beta + o, k + o, v + o,
                     sa.data() + m * N);
        }
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const int64_t o = s.offset(b, t, h), m = t - t0;
          const scalar_t* prev = states.data() + m * NN;       // S_{t-1}
          const scalar_t* cur = states.data() + (m + 1) * NN;  // S_t
          const scalar_t *rt = r + o, *kt = k + o, *vt = v + o, *at = alpha + o, *bt = beta + o, *gy = dy + o;
          const scalar_t* st = sa.data() + m * N;
          decay_of(N, w + o, d.data());
          std::fill(col_k.begin(), col_k.end(), scalar_t(0));
          std::fill(col_b.begin(), col_b.end(), scalar_t(0));
          std::fill(col_d.begin(), col_d.end(), scalar_t(0));
          std::fill(col_a.begin(), col_a.end(), scalar_t(0));
          std::fill(col_r.begin(), col_r.end(), scalar_t(0));
          scalar_t *__restrict cr = col_r.data(), *__restrict ck = col_k.data(), *__restrict cb = col_b.data();
          scalar_t *__restrict cd = col_d.data(), *__restrict ca = col_a.data();
          const scalar_t* __restrict dd = d.data();
          for (int64_t i = 0; i < N; ++i) {
            scalar_t* __restrict Gi = G.data() + i * N;
            const scalar_t *__restrict Pi = prev + i * N, *__restrict Ci = cur + i * N;
            const scalar_t gyi = gy[i], vi = vt[i], si = st[i];
            // Elementwise first, reductions after, so each loop runs in vector lanes.
            for (int64_t j = 0; j < N; ++j) {
              cr[j] += Ci[j] * gyi;
              const scalar_t g = Gi[j] + gyi * rt[j];
              Gi[j] = g;
              ck[j] += g * vi;
              cb[j] += g * si;
              cd[j] += g * Pi[j];
            }
            dv[o + i] = dot(N, Gi, kt);
            const scalar_t g_b = dot(N, Gi, bt);
            ds[i] = g_b;
            for (int64_t j = 0; j < N; ++j) {
              ca[j] += g_b * Pi[j];
              Gi[j] = Gi[j] * dd[j] + g_b * at[j];  // becomes dL/dS_{t-1}
            }
          }
          for (int64_t j = 0; j < N; ++j) {
            dr[o + j] = col_r[j];
            dk[o + j] = col_k[j];
            dbeta[o + j] = col_b[j];
            dalpha[o + j] = col_a[j];
            dw[o + j] = -col_d[j] * d[j] * std::exp(w[o + j]);
          }
        }
      }
    }
  });
}

// The CPU kernels run in float64 for float64 inputs and in float32 for everything else.
torch::ScalarType compute_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor prepared(const torch::Tensor& t, torch::ScalarType type) { return t.to(torch::kCPU, type).contiguous(); }

void check_cpu(const torch::Tensor& r, std::initializer_list<const torch::Tensor*> rest) {
  VRWKV_CHECK(r.device().is_cpu(), "wkv7_*_cpu: r is on ", r.device());
  for (const auto* x : rest) VRWKV_CHECK(x->device().is_cpu(), "wkv7: inputs on ", r.device(), " and ", x->device());
}

// Every input on r's device; a device without a kernel in this build is an error that says so.
void check_device(const torch::Tensor& r, std::initializer_list<const torch::Tensor*> rest, int64_t head_size) {
  for (const auto* x : rest) VRWKV_CHECK(x->device() == r.device(), "wkv7: inputs on ", r.device(), " and ", x->device());
  if (r.device().is_cpu()) return;
#if VRWKV_WITH_CUDA
  if (r.is_cuda()) {
    const bool dtype_ok = r.scalar_type() == torch::kFloat32 || r.scalar_type() == torch::kBFloat16;
    for (const auto* x : rest)
      VRWKV_CHECK(x->scalar_type() == r.scalar_type(), "wkv7: inputs must have one dtype on CUDA; got ",
                  r.scalar_type(), " and ", x->scalar_type());
    VRWKV_CHECK(dtype_ok && kWkv7CudaHeadSize % head_size == 0, "wkv7: the CUDA kernel has no variant for r ",
                r.sizes(), " ", r.scalar_type(), " with head size ", head_size,
                " (float32 or bfloat16, head sizes dividing ", kWkv7CudaHeadSize, ")");
    return;
  }
#endif
  VRWKV_CHECK(false, "wkv7: no kernel for device ", r.device(), " in this build",
             VRWKV_WITH_CUDA ? "" : " (the CUDA kernel is built with a CUDA-enabled libtorch)");
}

#if VRWKV_WITH_CUDA
// Heads of N < 64 channels run zero-padded (model/head_padding.h). Zero channels are inert here too: a
// key channel with k = alpha = beta = r = 0 and a value channel with v = 0 keep their state columns and
// rows at zero, so the real channels compute exactly what they would alone.
torch::Tensor kernel_heads(const torch::Tensor& x, int64_t N) { return vrwkv::pad_heads(x, N, kWkv7CudaHeadSize); }
torch::Tensor model_heads(const torch::Tensor& x, int64_t N) { return vrwkv::unpad_heads(x, N, kWkv7CudaHeadSize); }

// A state [B, H, N, N] in the padded layout [B, H, 64, 64], and back.
torch::Tensor pad_state(const torch::Tensor& s, int64_t N) {
  if (!s.defined() || N == kWkv7CudaHeadSize) return s;
  return torch::constant_pad_nd(s, {0, kWkv7CudaHeadSize - N, 0, kWkv7CudaHeadSize - N});
}

torch::Tensor unpad_state(const torch::Tensor& s, int64_t N) {
  if (N == kWkv7CudaHeadSize) return s;
  return s.narrow(2, 0, N).narrow(3, 0, N).contiguous();
}
#endif

}  // namespace

Wkv7Shape wkv7_shape(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& alpha, const torch::Tensor& beta, int64_t head_size) {
  VRWKV_CHECK(r.dim() == 3, "wkv7: r must be [B, T, C], got ", r.sizes());
  for (const auto* t : {&w, &k, &v, &alpha, &beta})
    VRWKV_CHECK(t->sizes() == r.sizes(), "wkv7: r, w, k, v, alpha, beta must have one shape; got ", r.sizes(),
                " and ", t->sizes());
  VRWKV_CHECK(head_size > 0 && r.size(2) % head_size == 0, "wkv7: C = ", r.size(2),
              " is not a multiple of head size ", head_size);
  return {r.size(0), r.size(1), r.size(2) / head_size, head_size};
}

std::pair<torch::Tensor, torch::Tensor> wkv7_forward_cpu(const torch::Tensor& r_in, const torch::Tensor& w_in,
                                                         const torch::Tensor& k_in, const torch::Tensor& v_in,
                                                         const torch::Tensor& a_in, const torch::Tensor& b_in,
                                                         int64_t head_size, const torch::Tensor& state0) {
  const Shape s = check_inputs(r_in, w_in, k_in, v_in, a_in, b_in, head_size);
  check_cpu(r_in, {&w_in, &k_in, &v_in, &a_in, &b_in});
  const auto type = compute_type(r_in);
  auto r = prepared(r_in, type), w = prepared(w_in, type), k = prepared(k_in, type), v = prepared(v_in, type);
  auto alpha = prepared(a_in, type), beta = prepared(b_in, type);
  torch::Tensor state;
  if (state0.defined()) {
    VRWKV_CHECK(state0.sizes() == torch::IntArrayRef({s.B, s.H, s.N, s.N}), "wkv7: state must be [", s.B, ", ", s.H,
                ", ", s.N, ", ", s.N, "], got ", state0.sizes());
    state = state0.to(torch::kCPU, type, /*non_blocking=*/false, /*copy=*/true).contiguous();
  } else {
    state = torch::zeros({s.B, s.H, s.N, s.N}, r.options());
  }
  auto y = torch::empty_like(r);
  AT_DISPATCH_FLOATING_TYPES(type, "wkv7_forward_cpu", [&] {
    forward_kernel<scalar_t>(s, r.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
                             v.data_ptr<scalar_t>(), alpha.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                             y.data_ptr<scalar_t>(), state.data_ptr<scalar_t>());
  });
  return {y.to(r_in.scalar_type()), state};
}

std::vector<torch::Tensor> wkv7_backward_cpu(const torch::Tensor& r_in, const torch::Tensor& w_in,
                                             const torch::Tensor& k_in, const torch::Tensor& v_in,
                                             const torch::Tensor& a_in, const torch::Tensor& b_in, int64_t head_size,
                                             const torch::Tensor& dy_in) {
  const Shape s = check_inputs(r_in, w_in, k_in, v_in, a_in, b_in, head_size);
  check_cpu(r_in, {&w_in, &k_in, &v_in, &a_in, &b_in, &dy_in});
  VRWKV_CHECK(dy_in.sizes() == r_in.sizes(), "wkv7: dy ", dy_in.sizes(), " must match r ", r_in.sizes());
  const auto type = compute_type(r_in);
  auto r = prepared(r_in, type), w = prepared(w_in, type), k = prepared(k_in, type), v = prepared(v_in, type);
  auto alpha = prepared(a_in, type), beta = prepared(b_in, type), dy = prepared(dy_in, type);
  auto dr = torch::empty_like(r), dw = torch::empty_like(r), dk = torch::empty_like(r), dv = torch::empty_like(r);
  auto dalpha = torch::empty_like(r), dbeta = torch::empty_like(r);
  AT_DISPATCH_FLOATING_TYPES(type, "wkv7_backward_cpu", [&] {
    backward_kernel<scalar_t>(s, r.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
                              v.data_ptr<scalar_t>(), alpha.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(),
                              dy.data_ptr<scalar_t>(), dr.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(),
                              dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>(), dalpha.data_ptr<scalar_t>(),
                              dbeta.data_ptr<scalar_t>());
  });
  return {dr.to(r_in.scalar_type()),    dw.to(w_in.scalar_type()),     dk.to(k_in.scalar_type()),
          dv.to(v_in.scalar_type()),    dalpha.to(a_in.scalar_type()), dbeta.to(b_in.scalar_type())};
}

namespace {

class WKV7Function : public torch::autograd::Function<WKV7Function> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& r, const torch::Tensor& w,
                               const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& alpha,
                               const torch::Tensor& beta, int64_t head_size) {
    ctx->saved_data["head_size"] = head_size;
#if VRWKV_WITH_CUDA
    if (r.is_cuda()) {
      const int64_t N = head_size;
      auto pr = kernel_heads(r, N), pw = kernel_heads(w, N), pk = kernel_heads(k, N), pv = kernel_heads(v, N);
      auto pa = kernel_heads(alpha, N), pb = kernel_heads(beta, N);
      auto out = wkv7_cuda_forward(pr, pw, pk, pv, pa, pb);
      ctx->save_for_backward({pr, pw, pk, pv, pa, pb, out.sa, out.snapshots});
      return model_heads(out.y, N);
    }
#endif
    ctx->save_for_backward({r, w, k, v, alpha, beta});
    return wkv7_forward_cpu(r, w, k, v, alpha, beta, head_size).first;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const int64_t N = ctx->saved_data["head_size"].toInt();
#if VRWKV_WITH_CUDA
    if (saved[0].is_cuda()) {
      auto g = wkv7_cuda_backward(saved[0], saved[1], saved[2], saved[3], saved[4], saved[5],
                                  kernel_heads(grads[0], N), saved[6], saved[7]);
      for (auto& t : g) t = model_heads(t, N);
      return {g[0], g[1], g[2], g[3], g[4], g[5], torch::Tensor()};
    }
#endif
    auto g = wkv7_backward_cpu(saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], N, grads[0]);
    return {g[0], g[1], g[2], g[3], g[4], g[5], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor wkv7(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                   const torch::Tensor& alpha, const torch::Tensor& beta, int64_t head_size) {
  check_inputs(r, w, k, v, alpha, beta, head_size);
  check_device(r, {&w, &k, &v, &alpha, &beta}, head_size);
  return WKV7Function::apply(r, w, k, v, alpha, beta, head_size);
}

std::pair<torch::Tensor, torch::Tensor> wkv7_forward_from_state(const torch::Tensor& r, const torch::Tensor& w,
                                                                const torch::Tensor& k, const torch::Tensor& v,
                                                                const torch::Tensor& alpha, const torch::Tensor& beta,
                                                                int64_t head_size, const torch::Tensor& state0) {
  const Shape s = check_inputs(r, w, k, v, alpha, beta, head_size);
  check_device(r, {&w, &k, &v, &alpha, &beta}, head_size);
  torch::NoGradGuard no_grad;
#if VRWKV_WITH_CUDA
  if (r.is_cuda()) {
    VRWKV_CHECK(!state0.defined() || state0.sizes() == torch::IntArrayRef({s.B, s.H, s.N, s.N}),
                "wkv7: state must be [", s.B, ", ", s.H, ", ", s.N, ", ", s.N, "], got ", state0.sizes());
    const int64_t N = head_size;
    auto [y, state] =
        wkv7_cuda_forward_from_state(kernel_heads(r, N), kernel_heads(w, N), kernel_heads(k, N), kernel_heads(v, N),
                                     kernel_heads(alpha, N), kernel_heads(beta, N), pad_state(state0, N));
    return {model_heads(y, N), unpad_state(state, N)};
  }
#endif
  (void)s;
  return wkv7_forward_cpu(r, w, k, v, alpha, beta, head_size, state0);
}

}  // namespace vrwkv
