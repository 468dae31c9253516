// CUDA kernels of the RWKV-6 WKV recurrence; see wkv6_kernels.cuh for the interface.
//
// Notation (per batch b and head h, channels i, j in 0..63, decay d_t = exp(-exp(w_t))):
//   y_t[j]  = sum_i r_t[i] (u[i] k_t[i] v_t[j] + S_{t-1}[i][j]),  S_t = S_{t-1} * d_t (row i) + k_t v_t^T
//   G_t     = dL/dS_t:  G_{t-1} = G_t * d_t (row i) + r_t dy_t^T,  G_{T-1} = 0
// Gradients:
//   dr_t[i] = u[i] k_t[i] (dy_t . v_t) + sum_j dy_t[j] S_{t-1}[i][j]
//   dk_t[i] = r_t[i] u[i] (dy_t . v_t) + sum_j G_t[i][j] v_t[j]
//   dv_t[j] = (sum_i r_t[i] u[i] k_t[i]) dy_t[j] + sum_i G_t[i][j] k_t[i]
//   du[i]   = sum_t r_t[i] k_t[i] (dy_t . v_t)
//   dw_t[i] = -exp(w_t[i]) F_t[i],  F_t[i] = d_t[i] sum_j G_t[i][j] S_{t-1}[i][j]
//
// F needs S_{t-1} and G_t at the same t, which a single sweep cannot have without storing every state.
// Expanding both as sums over earlier / later steps, F_t = sum over pairs s < t < tau of
// k_s r_tau (v_s . dy_tau) prod_{s<sigma<tau} d_sigma, and with
//   Q_t = r_t[i] sum_j dy_t[j] S_{t-1}[i][j]   (all pairs ending at t, a by-product of dr)
//   K_t = k_t[i] sum_j G_t[i][j] v_t[j]        (all pairs starting at t, a by-product of dk)
// one gets the exact identity F_t = sum_{tau>t} (Q_tau - K_tau) - K_t. That running sum stays as small
// as F itself (no cancellation of large prefix sums), so float32 is enough; it is taken by a separate
// scan kernel from Q and K kept in float32 scratch memory.
//
// Layout of the work: one block of 64 threads per (b, h) and pass, the state or its gradient in
// registers (64 floats a thread), the inputs of kL time steps converted to float in shared memory,
// while the loads of the next kL steps are already in flight in registers (global latency is the
// cost of a naive step-by-step loop). Forward: thread j owns column j of S. Backward, one launch with
// three blocks per (b, h) that run concurrently:
//   pass 0, forward in time, thread i owns row i of S:    dr, Q
//   pass 1, backward in time, thread i owns row i of G:   dk, K, du (per batch)
//   pass 2, backward in time, thread j owns column j of G: dv
// then a scan kernel over time makes dw from Q and K and sums du over the batch.
#include "wkv6_kernels.cuh"

#include <climits>

#include "float_io.cuh"

namespace vrwkv {
namespace {

constexpr int kN = static_cast<int>(kWkv6HeadSize);  // channels per head = threads per block
constexpr int kWarps = kN / 32;
constexpr int kL = 16;    // time steps staged at once: enough math per stage to hide a global load
constexpr int kSeg = 16;  // time segments per block in the dw scan (64 * 16 = 1024 threads)
static_assert(kN % 32 == 0 && kN % 4 == 0, "the head size must be a multiple of the warp size");

using cuda_io::from_float;
using cuda_io::to_float;

__device__ __forceinline__ int min_int(int a, int b) { return a < b ? a : b; }

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }

template <typename S>
struct Inputs {
  const S* __restrict__ r;
  const S* __restrict__ k;
  const S* __restrict__ v;
  const S* __restrict__ w;
  const S* __restrict__ dy;  // null in the forward
};

// Where the channel of one thread lives: element (b, t, h, n) is at base + t * stride.
struct Channel {
  size_t base;
  size_t stride;
  __device__ __forceinline__ size_t at(int t) const { return base + static_cast<size_t>(t) * stride; }
};

__device__ __forceinline__ Channel channel_of(int b, int h, int n, int T, int H) {
  const size_t stride = static_cast<size_t>(H) * kN;
  return {static_cast<size_t>(b) * T * stride + static_cast<size_t>(h) * kN + n, stride};
}

// kL time steps of one (b, h) in shared memory, as float, with the decay already exponentiated.
// v and dy are there only when the pass reads them. `part` holds per-warp partial sums of the one
// per-step scalar a pass needs: dy_t . v_t for the row passes (which have both), otherwise
// sum_i r_t[i] u[i] k_t[i].
template <bool kV, bool kDy>
struct __align__(16) Stage {
  float r[kL][kN];
  float k[kL][kN];
  float d[kL][kN];
  float v[kV ? kL : 1][kN];
  float dy[kDy ? kL : 1][kN];
  float part[kWarps][kL];

  __device__ __forceinline__ float scalar(int l) const {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kWarps; ++i) s += part[i][l];
    return s;
  }
};

// The next kL steps of this thread's channel, raw, in registers while the current stage is computed.
template <typename S, bool kV, bool kDy>
struct Prefetch {
  S r[kL], k[kL], w[kL], v[kV ? kL : 1], dy[kDy ? kL : 1];

  // Steps at or past T read as zero (never used, but keeps the per-step sums finite).
  __device__ __forceinline__ void load(const Inputs<S>& in, const Channel& c, int t0, int T) {
    const S zero = from_float<S>(0.f);
#pragma unroll
    for (int l = 0; l < kL; ++l) {
      const bool inside = t0 + l < T;
      const size_t o = c.at(t0 + l);
      r[l] = inside ? in.r[o] : zero;
      k[l] = inside ? in.k[o] : zero;
      w[l] = inside ? in.w[o] : zero;
      if constexpr (kV) v[l] = inside ? in.v[o] : zero;
      if constexpr (kDy) dy[l] = inside ? in.dy[o] : zero;
    }
  }

  // Thread n writes column n of every step of the stage, and its share of the per-step scalar.
  __device__ __forceinline__ void store(Stage<kV, kDy>& st, int n, float u_n) const {
    const int lane = n % 32, warp = n / 32;
#pragma unroll
    for (int l = 0; l < kL; ++l) {
      const float rf = to_float(r[l]), kf = to_float(k[l]);
      st.r[l][n] = rf;
      st.k[l][n] = kf;
      st.d[l][n] = expf(-expf(to_float(w[l])));
      float p;
      if constexpr (kV) st.v[l][n] = to_float(v[l]);
      if constexpr (kDy) st.dy[l][n] = to_float(dy[l]);
      if constexpr (kV && kDy)
        p = to_float(dy[l]) * to_float(v[l]);
      else
        p = rf * u_n * kf;
      p = warp_sum(p);
      if (lane == 0) st.part[warp][l] = p;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Forward: block (b, h), thread j keeps column j of S in registers.

template <typename S>
__global__ void __launch_bounds__(kN) wkv6_forward_kernel(Inputs<S> in, const float* __restrict__ u,
                                                         S* __restrict__ y, int T, int H) {
  __shared__ Stage<true, false> st;
  const int j = threadIdx.x, b = blockIdx.x / H, h = blockIdx.x % H;
  const Channel ch = channel_of(b, h, j, T, H);
  const float u_j = u[h * kN + j];

  float s[kN];  // s[i] = S[i][j]
#pragma unroll
  for (int i = 0; i < kN; ++i) s[i] = 0.f;

  Prefetch<S, true, false> pf;
  pf.load(in, ch, 0, T);
  for (int t0 = 0; t0 < T; t0 += kL) {
    __syncthreads();  // every thread is done reading the previous stage
    pf.store(st, j, u_j);
    __syncthreads();
    if (t0 + kL < T) pf.load(in, ch, t0 + kL, T);
    const int len = min_int(kL, T - t0);
    for (int l = 0; l < len; ++l) {
      const float vj = st.v[l][j];
      // The u term is (sum_i r u k) v_j; the four accumulators break the dependency chain.
      float acc0 = st.scalar(l) * vj, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
#pragma unroll
      for (int i = 0; i < kN; i += 4) {
        const float4 r4 = load4(&st.r[l][i]), k4 = load4(&st.k[l][i]), d4 = load4(&st.d[l][i]);
        acc0 = fmaf(r4.x, s[i + 0], acc0);
        s[i + 0] = fmaf(s[i + 0], d4.x, k4.x * vj);
        acc1 = fmaf(r4.y, s[i + 1], acc1);
        s[i + 1] = fmaf(s[i + 1], d4.y, k4.y * vj);
        acc2 = fmaf(r4.z, s[i + 2], acc2);
        s[i + 2] = fmaf(s[i + 2], d4.z, k4.z * vj);
        acc3 = fmaf(r4.w, s[i + 3], acc3);
        s[i + 3] = fmaf(s[i + 3], d4.w, k4.w * vj);
      }
      y[ch.at(t0 + l)] = from_float<S>((acc0 + acc1) + (acc2 + acc3));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward passes. Each is one block of 64 threads for one (b, h).

struct BackwardOut {
  float* q;        // [B, T, H, N] scratch: Q_t (pass 0)
  float* kk;       // [B, T, H, N] scratch: K_t (pass 1)
  float* du_part;  // [B, H, N] scratch: du of each batch element (pass 1)
};

union BackwardStage {
  Stage<true, true> rows;   // passes 0 and 1
  Stage<false, true> cols;  // pass 2
};

// Pass 0: forward in time, thread i keeps row i of S. Writes dr and Q.
template <typename S>
__device__ __forceinline__ void dr_pass(const Inputs<S>& in, Stage<true, true>& st, const Channel& ch,
                                        float u_i, int i, int T, S* __restrict__ dr, float* __restrict__ q) {
  float s[kN];  // s[j] = S[i][j]
#pragma unroll
  for (int j = 0; j < kN; ++j) s[j] = 0.f;

  Prefetch<S, true, true> pf;
  pf.load(in, ch, 0, T);
  for (int t0 = 0; t0 < T; t0 += kL) {
    __syncthreads();
    pf.store(st, i, u_i);
    __syncthreads();
    if (t0 + kL < T) pf.load(in, ch, t0 + kL, T);
    const int len = min_int(kL, T - t0);
    for (int l = 0; l < len; ++l) {
      const float ki = st.k[l][i], di = st.d[l][i];
      float acc0 = 0.f, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
#pragma unroll
      for (int j = 0; j < kN; j += 4) {
        const float4 v4 = load4(&st.v[l][j]), g4 = load4(&st.dy[l][j]);
        acc0 = fmaf(g4.x, s[j + 0], acc0);
        s[j + 0] = fmaf(s[j + 0], di, ki * v4.x);
        acc1 = fmaf(g4.y, s[j + 1], acc1);
        s[j + 1] = fmaf(s[j + 1], di, ki * v4.y);
        acc2 = fmaf(g4.z, s[j + 2], acc2);
        s[j + 2] = fmaf(s[j + 2], di, ki * v4.z);
        acc3 = fmaf(g4.w, s[j + 3], acc3);
        s[j + 3] = fmaf(s[j + 3], di, ki * v4.w);
      }
      const float dy_s = (acc0 + acc1) + (acc2 + acc3);  // sum_j dy_t[j] S_{t-1}[i][j]
      const size_t o = ch.at(t0 + l);
      dr[o] = from_float<S>(fmaf(u_i * ki, st.scalar(l), dy_s));
      q[o] = st.r[l][i] * dy_s;
    }
  }
}

// Pass 1: backward in time, thread i keeps row i of G. Writes dk, K and this batch element's du.
template <typename S>
__device__ __forceinline__ void dk_pass(const Inputs<S>& in, Stage<true, true>& st, const Channel& ch,
                                        float u_i, int i, int T, S* __restrict__ dk, float* __restrict__ kk,
                                        float* __restrict__ du_part) {
  float g[kN];  // g[j] = G[i][j], the gradient of the state after the current step
#pragma unroll
  for (int j = 0; j < kN; ++j) g[j] = 0.f;
  float du = 0.f;

  const int last = (T - 1) / kL;
  Prefetch<S, true, true> pf;
  pf.load(in, ch, last * kL, T);
  for (int c = last; c >= 0; --c) {
    const int t0 = c * kL;
    __syncthreads();
    pf.store(st, i, u_i);
    __syncthreads();
    if (c > 0) pf.load(in, ch, t0 - kL, T);
    for (int l = min_int(kL, T - t0) - 1; l >= 0; --l) {
      const float ri = st.r[l][i], di = st.d[l][i];
      float acc0 = 0.f, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
#pragma unroll
      for (int j = 0; j < kN; j += 4) {
        const float4 v4 = load4(&st.v[l][j]), g4 = load4(&st.dy[l][j]);
        acc0 = fmaf(g[j + 0], v4.x, acc0);
        g[j + 0] = fmaf(g[j + 0], di, ri * g4.x);
        acc1 = fmaf(g[j + 1], v4.y, acc1);
        g[j + 1] = fmaf(g[j + 1], di, ri * g4.y);
        acc2 = fmaf(g[j + 2], v4.z, acc2);
        g[j + 2] = fmaf(g[j + 2], di, ri * g4.z);
        acc3 = fmaf(g[j + 3], v4.w, acc3);
        g[j + 3] = fmaf(g[j + 3], di, ri * g4.w);
      }
      const float g_v = (acc0 + acc1) + (acc2 + acc3);  // sum_j G_t[i][j] v_t[j]
      const float dyv = st.scalar(l), ki = st.k[l][i];
      const size_t o = ch.at(t0 + l);
      dk[o] = from_float<S>(fmaf(ri * u_i, dyv, g_v));
      kk[o] = ki * g_v;
      du = fmaf(ri * ki, dyv, du);
    }
  }
  *du_part = du;
}

// Pass 2: backward in time, thread j keeps column j of G. Writes dv.
template <typename S>
__device__ __forceinline__ void dv_pass(const Inputs<S>& in, Stage<false, true>& st, const Channel& ch,
                                        float u_j, int j, int T, S* __restrict__ dv) {
  float g[kN];  // g[i] = G[i][j]
#pragma unroll
  for (int i = 0; i < kN; ++i) g[i] = 0.f;

  const int last = (T - 1) / kL;
  Prefetch<S, false, true> pf;
  pf.load(in, ch, last * kL, T);
  for (int c = last; c >= 0; --c) {
    const int t0 = c * kL;
    __syncthreads();
    pf.store(st, j, u_j);
    __syncthreads();
    if (c > 0) pf.load(in, ch, t0 - kL, T);
    for (int l = min_int(kL, T - t0) - 1; l >= 0; --l) {
      const float gj = st.dy[l][j];
      float acc0 = 0.f, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
#pragma unroll
      for (int i = 0; i < kN; i += 4) {
        const float4 r4 = load4(&st.r[l][i]), k4 = load4(&st.k[l][i]), d4 = load4(&st.d[l][i]);
        acc0 = fmaf(g[i + 0], k4.x, acc0);
        g[i + 0] = fmaf(g[i + 0], d4.x, r4.x * gj);
        acc1 = fmaf(g[i + 1], k4.y, acc1);
        g[i + 1] = fmaf(g[i + 1], d4.y, r4.y * gj);
        acc2 = fmaf(g[i + 2], k4.z, acc2);
        g[i + 2] = fmaf(g[i + 2], d4.z, r4.z * gj);
        acc3 = fmaf(g[i + 3], k4.w, acc3);
        g[i + 3] = fmaf(g[i + 3], d4.w, r4.w * gj);
      }
      dv[ch.at(t0 + l)] = from_float<S>(fmaf(st.scalar(l), gj, (acc0 + acc1) + (acc2 + acc3)));
    }
  }
}

// Block 3 * (b * H + h) + pass. The passes of one (b, h) are adjacent so that the block scheduler
// spreads every kind of pass evenly over the SMs.
template <typename S>
__global__ void __launch_bounds__(kN) wkv6_backward_kernel(Inputs<S> in, const float* __restrict__ u,
                                                          S* __restrict__ dr, S* __restrict__ dk,
                                                          S* __restrict__ dv, BackwardOut out, int T, int H) {
  __shared__ BackwardStage st;
  const int pass = blockIdx.x % 3, bh = blockIdx.x / 3;
  const int n = threadIdx.x, b = bh / H, h = bh % H;
  const Channel ch = channel_of(b, h, n, T, H);
  const float u_n = u[h * kN + n];
  if (pass == 0)
    dr_pass(in, st.rows, ch, u_n, n, T, dr, out.q);
  else if (pass == 1)
    dk_pass(in, st.rows, ch, u_n, n, T, dk, out.kk, out.du_part + static_cast<size_t>(bh) * kN + n);
  else
    dv_pass(in, st.cols, ch, u_n, n, T, dv);
}

// dw_t = -exp(w_t) F_t with F_t = sum_{tau>t} (Q_tau - K_tau) - K_t, a reverse scan over time per
// channel. Block (b, h) has kSeg segments of time x 64 channels: each thread sums its segment, then
// scans it starting from the sum of the segments after it. Blocks of b = 0 also sum du over the batch.
template <typename S>
__global__ void __launch_bounds__(kN * kSeg) wkv6_dw_kernel(const S* __restrict__ w, const float* __restrict__ q,
                                                          const float* __restrict__ kk,
                                                          const float* __restrict__ du_part, S* __restrict__ dw,
                                                          float* __restrict__ du, int B, int T, int H) {
  __shared__ float seg_sum[kSeg][kN];
  const int n = threadIdx.x % kN, seg = threadIdx.x / kN;
  const int b = blockIdx.x / H, h = blockIdx.x % H;
  const Channel ch = channel_of(b, h, n, T, H);
  const int seg_len = (T + kSeg - 1) / kSeg;
  const int t_begin = min_int(T, seg * seg_len), t_end = min_int(T, t_begin + seg_len);

  float sum = 0.f;
#pragma unroll 4
  for (int t = t_begin; t < t_end; ++t) sum += q[ch.at(t)] - kk[ch.at(t)];
  seg_sum[seg][n] = sum;
  __syncthreads();

  float f = 0.f;  // sum over tau after the current step of (Q_tau - K_tau)
  for (int later = kSeg - 1; later > seg; --later) f += seg_sum[later][n];
#pragma unroll 4
  for (int t = t_end - 1; t >= t_begin; --t) {
    const size_t o = ch.at(t);
    f -= kk[o];
    dw[o] = from_float<S>(-expf(to_float(w[o])) * f);
    f += q[o];
  }

  if (b == 0 && seg == 0) {
    float acc = 0.f;
    for (int bb = 0; bb < B; ++bb) acc += du_part[(static_cast<size_t>(bb) * H + h) * kN + n];
    du[h * kN + n] = acc;
  }
}

// Scratch layout of the backward: Q, K (each B*T*H*N floats), du per batch element (B*H*N floats),
// each region starting on a 256-byte boundary.
constexpr size_t kAlign = 256;
size_t round_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

struct Workspace {
  size_t q, kk, du_part, total;  // byte offsets and size
};

Workspace workspace_layout(int64_t B, int64_t T, int64_t H) {
  const size_t big = static_cast<size_t>(B) * T * H * kN * sizeof(float);
  const size_t small = static_cast<size_t>(B) * H * kN * sizeof(float);
  Workspace ws{};
  ws.q = 0;
  ws.kk = round_up(big);
  ws.du_part = ws.kk + round_up(big);
  ws.total = ws.du_part + round_up(small);
  return ws;
}

// Sizes the kernels can index with int (time, heads) and size_t (elements); grid.x fits in int.
bool sizes_ok(int64_t B, int64_t T, int64_t H, int64_t N) {
  if (N != kN || B < 0 || T < 0 || H < 0) return false;
  if (T > INT_MAX || H > INT_MAX || B > INT_MAX) return false;
  return B * H <= INT_MAX / 3;
}

}  // namespace

template <typename scalar_t>
cudaError_t wkv6_forward_cuda(const scalar_t* r, const scalar_t* k, const scalar_t* v, const scalar_t* w,
                              const float* u, scalar_t* y, int64_t B, int64_t T, int64_t H, int64_t N,
                              cudaStream_t stream) {
  if (!sizes_ok(B, T, H, N)) return cudaErrorInvalidValue;
  if (B == 0 || T == 0 || H == 0) return cudaSuccess;
  if (!r || !k || !v || !w || !u || !y) return cudaErrorInvalidValue;
  const Inputs<scalar_t> in{r, k, v, w, nullptr};
  const dim3 grid(static_cast<unsigned>(B * H)), block(kN);
  wkv6_forward_kernel<scalar_t><<<grid, block, 0, stream>>>(in, u, y, static_cast<int>(T), static_cast<int>(H));
  return cudaGetLastError();
}

size_t wkv6_backward_workspace_bytes(int64_t B, int64_t T, int64_t H) {
  if (B < 0 || T < 0 || H < 0) return 0;
  return workspace_layout(B, T, H).total;
}

template <typename scalar_t>
cudaError_t wkv6_backward_cuda(const scalar_t* r, const scalar_t* k, const scalar_t* v, const scalar_t* w,
                               const float* u, const scalar_t* dy, scalar_t* dr, scalar_t* dk, scalar_t* dv,
                               scalar_t* dw, float* du, void* workspace, size_t workspace_bytes, int64_t B,
                               int64_t T, int64_t H, int64_t N, cudaStream_t stream) {
  if (!sizes_ok(B, T, H, N)) return cudaErrorInvalidValue;
  if (H == 0) return cudaSuccess;
  if (!du) return cudaErrorInvalidValue;
  if (B == 0 || T == 0) {  // no steps: every gradient is empty except du, which is zero
    cudaError_t err = cudaMemsetAsync(du, 0, static_cast<size_t>(H) * kN * sizeof(float), stream);
    return err != cudaSuccess ? err : cudaGetLastError();
  }
  if (!r || !k || !v || !w || !u || !dy || !dr || !dk || !dv || !dw || !workspace) return cudaErrorInvalidValue;
  const Workspace ws = workspace_layout(B, T, H);
  if (workspace_bytes < ws.total) return cudaErrorInvalidValue;

  char* base = static_cast<char*>(workspace);
  const BackwardOut out{reinterpret_cast<float*>(base + ws.q), reinterpret_cast<float*>(base + ws.kk),
                        reinterpret_cast<float*>(base + ws.du_part)};
  const Inputs<scalar_t> in{r, k, v, w, dy};
  const int Ti = static_cast<int>(T), Hi = static_cast<int>(H), Bi = static_cast<int>(B);

  const dim3 grid_passes(static_cast<unsigned>(3 * B * H)), block_passes(kN);
  wkv6_backward_kernel<scalar_t><<<grid_passes, block_passes, 0, stream>>>(in, u, dr, dk, dv, out, Ti, Hi);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;

  const dim3 grid_scan(static_cast<unsigned>(B * H)), block_scan(kN * kSeg);
  wkv6_dw_kernel<scalar_t><<<grid_scan, block_scan, 0, stream>>>(w, out.q, out.kk, out.du_part, dw, du, Bi, Ti, Hi);
  return cudaGetLastError();
}

template cudaError_t wkv6_forward_cuda<float>(const float*, const float*, const float*, const float*, const float*,
                                              float*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
template cudaError_t wkv6_forward_cuda<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                      const __nv_bfloat16*, const __nv_bfloat16*, const float*,
                                                      __nv_bfloat16*, int64_t, int64_t, int64_t, int64_t,
                                                      cudaStream_t);
template cudaError_t wkv6_backward_cuda<float>(const float*, const float*, const float*, const float*,
                                               const float*, const float*, float*, float*, float*, float*, float*,
                                               void*, size_t, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
template cudaError_t wkv6_backward_cuda<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                       const __nv_bfloat16*, const __nv_bfloat16*, const float*,
                                                       const __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*,
                                                       __nv_bfloat16*, __nv_bfloat16*, float*, void*, size_t,
                                                       int64_t, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace vrwkv
