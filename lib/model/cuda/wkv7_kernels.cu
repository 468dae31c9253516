// CUDA kernels of the RWKV-7 WKV recurrence; see wkv7_kernels.cuh for the interface.
//
// Per (b, h), state S [64 x 64] (row i: value channel, column j: key channel), d_t = exp(-exp(w_t)):
//   s_t = S_{t-1} alpha_t;  S_t = S_{t-1} diag(d_t) + s_t beta_t^T + v_t k_t^T;  y_t = S_t r_t
// With G_t = dL/dS_t (G_{T-1} starts from dy_{T-1} r_{T-1}^T), going back in time:
//   G_t += dy_t r_t^T;  dr = S_t^T dy;  dv = G_t k;  dk = G_t^T v;  dbeta = G_t^T s;  ds = G_t beta;
//   dd = column sums of G_t * S_{t-1};  dalpha = S_{t-1}^T ds;  dw = -dd * d * exp(w);
//   G_{t-1} = G_t diag(d_t) + ds alpha_t^T.
// S_{t-1} comes back from S_t by undoing the step, (S_t - v k^T - s beta^T) / d, as the original does
// (d >= 0.545 for the model's w, so the division is safe); the snapshot after every 16th step resets it,
// so the error of the undo never runs over more than 16 steps.
//
// Layout: one block of 64 threads per (b, h); each step's inputs converted to float in shared memory.
// Forward: thread i owns row i of S. Backward in two launches, 64 or 128 floats a thread in registers
// (all three in one kernel would spill): rows of G (dv, ds), then columns of S and G (the rest).
#include "wkv7_kernels.cuh"

#include <climits>

#include "float_io.cuh"

namespace vrwkv {
namespace {

constexpr int kN = static_cast<int>(kWkv7CudaHeadSize);
constexpr int kChunk = static_cast<int>(kWkv7CudaChunk);

using cuda_io::from_float;
using cuda_io::to_float;

// The state after step t is kept when t closes a chunk of 16 or is the last step.
__device__ __forceinline__ bool closes_chunk(int t, int T) { return (t + 1) % kChunk == 0 || t == T - 1; }

template <typename S>
__global__ void __launch_bounds__(kN) forward_kernel(int T, int H, const S* __restrict__ r, const S* __restrict__ w,
                                                     const S* __restrict__ k, const S* __restrict__ v,
                                                     const S* __restrict__ alpha, const S* __restrict__ beta,
                                                     S* __restrict__ y, const float* __restrict__ state_in,
                                                     float* __restrict__ state_out, float* __restrict__ sa,
                                                     float* __restrict__ snapshots) {
  const int bh = blockIdx.x, b = bh / H, h = bh % H, i = threadIdx.x;
  const int n_chunks = (T + kChunk - 1) / kChunk;
  __shared__ float s_r[kN], s_d[kN], s_k[kN], s_a[kN], s_b[kN];
  float row[kN];  // S[i][:]
#pragma unroll
  for (int j = 0; j < kN; ++j) row[j] = state_in ? state_in[(size_t(bh) * kN + i) * kN + j] : 0.f;
  for (int t = 0; t < T; ++t) {
    const size_t o = ((size_t(b) * T + t) * H + h) * kN + i;
    __syncthreads();  // the previous step has read the shared inputs
    s_r[i] = to_float(r[o]);
    s_d[i] = expf(-expf(to_float(w[o])));
    s_k[i] = to_float(k[o]);
    s_a[i] = to_float(alpha[o]);
    s_b[i] = to_float(beta[o]);
    const float vi = to_float(v[o]);
    __syncthreads();
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < kN; ++j) s += row[j] * s_a[j];
    float yi = 0.f;
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      row[j] = row[j] * s_d[j] + s * s_b[j] + vi * s_k[j];
      yi += row[j] * s_r[j];
    }
    y[o] = from_float<S>(yi);
    if (sa) sa[o] = s;
    if (snapshots && closes_chunk(t, T)) {
      // Key-major, so that a warp's stores are contiguous here and the backward reads columns.
      float* snap = snapshots + (size_t(bh) * n_chunks + t / kChunk) * kN * kN;
#pragma unroll
      for (int j = 0; j < kN; ++j) snap[j * kN + i] = row[j];
    }
  }
  if (state_out) {
#pragma unroll
    for (int j = 0; j < kN; ++j) state_out[(size_t(bh) * kN + i) * kN + j] = row[j];
  }
}

// Backward, pass 1: thread i owns row i of G, which needs nothing but the inputs: G[i][:] evolves with
// ds[i] = (G_t beta)[i], which the row gives itself. Writes dv and ds (float32 scratch for pass 2).
template <typename S>
__global__ void __launch_bounds__(kN, 1) backward_rows_kernel(int T, int H, const S* __restrict__ r,
                                                           const S* __restrict__ w, const S* __restrict__ k,
                                                           const S* __restrict__ alpha, const S* __restrict__ beta,
                                                           const S* __restrict__ dy, S* __restrict__ dv,
                                                           float* __restrict__ ds) {
  const int bh = blockIdx.x, b = bh / H, h = bh % H, i = threadIdx.x;
  __shared__ float s_r[kN], s_d[kN], s_k[kN], s_a[kN], s_b[kN];
  float g_row[kN];  // G[i][:]
#pragma unroll
  for (int j = 0; j < kN; ++j) g_row[j] = 0.f;
  for (int t = T - 1; t >= 0; --t) {
    const size_t o = ((size_t(b) * T + t) * H + h) * kN + i;
    const float dyi = to_float(dy[o]);
    __syncthreads();  // the previous step has read the shared inputs
    s_r[i] = to_float(r[o]);
    s_d[i] = expf(-expf(to_float(w[o])));
    s_k[i] = to_float(k[o]);
    s_a[i] = to_float(alpha[o]);
    s_b[i] = to_float(beta[o]);
    __syncthreads();
    float dvi = 0.f, dsi = 0.f;  // (G_t k)[i], (G_t beta)[i]
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      g_row[j] += dyi * s_r[j];
      dvi += g_row[j] * s_k[j];
      dsi += g_row[j] * s_b[j];
    }
#pragma unroll
    for (int j = 0; j < kN; ++j) g_row[j] = g_row[j] * s_d[j] + dsi * s_a[j];
    dv[o] = from_float<S>(dvi);
    ds[o] = dsi;
  }
}

// Backward, pass 2: thread i owns column i of S (from the key-major snapshots, undone step by step) and
// column i of G, for the key-channel sums dr, dk, dbeta, dd (-> dw) and dalpha; ds comes from pass 1.
template <typename S>
__global__ void __launch_bounds__(kN) backward_columns_kernel(
    int T, int H, const S* __restrict__ r, const S* __restrict__ w, const S* __restrict__ k, const S* __restrict__ v,
    const S* __restrict__ alpha, const S* __restrict__ beta, const S* __restrict__ dy, const float* __restrict__ sa,
    const float* __restrict__ ds, const float* __restrict__ snapshots, S* __restrict__ dr, S* __restrict__ dw,
    S* __restrict__ dk, S* __restrict__ dalpha, S* __restrict__ dbeta) {
  const int bh = blockIdx.x, b = bh / H, h = bh % H, i = threadIdx.x;
  const int n_chunks = (T + kChunk - 1) / kChunk;
  __shared__ float s_v[kN], s_dy[kN], s_s[kN], s_ds[kN];
  float state_col[kN];  // S[:][i]
  float g_col[kN];      // G[:][i]
#pragma unroll
  for (int j = 0; j < kN; ++j) g_col[j] = 0.f;
  for (int t = T - 1; t >= 0; --t) {
    if (closes_chunk(t, T)) {
      const float* snap = snapshots + (size_t(bh) * n_chunks + t / kChunk) * kN * kN;
#pragma unroll
      for (int j = 0; j < kN; ++j) state_col[j] = snap[i * kN + j];
    }
    const size_t o = ((size_t(b) * T + t) * H + h) * kN + i;
    const float wi = to_float(w[o]), di = expf(-expf(wi));
    const float ri = to_float(r[o]), ki = to_float(k[o]), ai = to_float(alpha[o]), bi = to_float(beta[o]);
    __syncthreads();  // the previous step has read the shared inputs
    s_v[i] = to_float(v[o]);
    s_dy[i] = to_float(dy[o]);
    s_s[i] = sa[o];
    s_ds[i] = ds[o];
    __syncthreads();

    // One pass over j, each shared value read once (separate loops would keep them all in registers).
    const float inv_d = 1.f / di;
    float dri = 0.f, dki = 0.f, dbi = 0.f, ddi = 0.f, dai = 0.f;
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float s_t = state_col[j], dyj = s_dy[j], vj = s_v[j], saj = s_s[j], dsj = s_ds[j];
      dri += s_t * dyj;                                                   // (S_t^T dy)[i]
      const float s_prev = t == 0 ? 0.f : (s_t - vj * ki - saj * bi) * inv_d;  // S_{t-1}[j][i]
      state_col[j] = s_prev;
      const float g = g_col[j] + dyj * ri;  // G_t[j][i]
      dki += g * vj;
      dbi += g * saj;
      ddi += g * s_prev;
      dai += s_prev * dsj;
      g_col[j] = g * di + dsj * ai;  // G_{t-1}[j][i]
    }
    dr[o] = from_float<S>(dri);
    dk[o] = from_float<S>(dki);
    dbeta[o] = from_float<S>(dbi);
    dalpha[o] = from_float<S>(dai);
    dw[o] = from_float<S>(-ddi * di * expf(wi));
  }
}

bool supported(int64_t B, int64_t T, int64_t H, int64_t N) {
  return N == kN && B >= 0 && T >= 0 && H >= 0 && T <= INT_MAX && H <= INT_MAX && B * H <= INT_MAX;
}

}  // namespace

template <typename scalar_t>
cudaError_t wkv7_forward_cuda(const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                              const scalar_t* alpha, const scalar_t* beta, scalar_t* y, const float* state_in,
                              float* state_out, float* sa, float* snapshots, int64_t B, int64_t T, int64_t H,
                              int64_t N, cudaStream_t stream) {
  if (!supported(B, T, H, N)) return cudaErrorInvalidValue;
  if (B * H == 0) return cudaSuccess;
  if (T == 0) {
    // Nothing read: the state passes through.
    if (!state_out) return cudaSuccess;
    const size_t bytes = size_t(B * H) * kN * kN * sizeof(float);
    return state_in ? cudaMemcpyAsync(state_out, state_in, bytes, cudaMemcpyDeviceToDevice, stream)
                    : cudaMemsetAsync(state_out, 0, bytes, stream);
  }
  forward_kernel<scalar_t><<<unsigned(B * H), kN, 0, stream>>>(int(T), int(H), r, w, k, v, alpha, beta, y, state_in,
                                                               state_out, sa, snapshots);
  return cudaGetLastError();
}

template <typename scalar_t>
cudaError_t wkv7_backward_cuda(const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                               const scalar_t* alpha, const scalar_t* beta, const scalar_t* dy, const float* sa,
                               const float* snapshots, float* ds_scratch, scalar_t* dr, scalar_t* dw, scalar_t* dk,
                               scalar_t* dv, scalar_t* dalpha, scalar_t* dbeta, int64_t B, int64_t T, int64_t H,
                               int64_t N, cudaStream_t stream) {
  if (!supported(B, T, H, N)) return cudaErrorInvalidValue;
  if (B * H == 0 || T == 0) return cudaSuccess;
  const unsigned blocks = unsigned(B * H);
  backward_rows_kernel<scalar_t><<<blocks, kN, 0, stream>>>(int(T), int(H), r, w, k, alpha, beta, dy, dv, ds_scratch);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  backward_columns_kernel<scalar_t><<<blocks, kN, 0, stream>>>(int(T), int(H), r, w, k, v, alpha, beta, dy, sa,
                                                               ds_scratch, snapshots, dr, dw, dk, dalpha, dbeta);
  return cudaGetLastError();
}

template cudaError_t wkv7_forward_cuda<float>(const float*, const float*, const float*, const float*, const float*,
                                              const float*, float*, const float*, float*, float*, float*, int64_t,
                                              int64_t, int64_t, int64_t, cudaStream_t);
template cudaError_t wkv7_forward_cuda<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                      const __nv_bfloat16*, const __nv_bfloat16*,
                                                      const __nv_bfloat16*, const __nv_bfloat16*, __nv_bfloat16*,
                                                      const float*, float*, float*, float*, int64_t, int64_t, int64_t,
                                                      int64_t, cudaStream_t);
template cudaError_t wkv7_backward_cuda<float>(const float*, const float*, const float*, const float*, const float*,
                                               const float*, const float*, const float*, const float*, float*, float*,
                                               float*, float*, float*, float*, float*, int64_t, int64_t, int64_t,
                                               int64_t, cudaStream_t);
template cudaError_t wkv7_backward_cuda<__nv_bfloat16>(
    const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
    const __nv_bfloat16*, const __nv_bfloat16*, const float*, const float*, float*, __nv_bfloat16*, __nv_bfloat16*,
    __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace vrwkv
