// CUDA kernels of the RWKV-7 WKV recurrence (SPEC-v7 section 3; equations in model/wkv7.h).
//
// Plain CUDA, no torch: the launchers take raw device pointers to contiguous [B, T, H, N] tensors
// (that is [B, T, C] with C = H * N), all float or all __nv_bfloat16; the head size N is fixed at 64
// (cudaErrorInvalidValue otherwise). The state and all sums are float32. Kernels are enqueued on
// `stream`; the launchers do not synchronize and report launch errors as their result.
//
// This is the recurrent formulation of the original's kernel, one block of 64 threads per (b, h),
// state snapshots every 16 steps for the backward: the baseline a chunked tensor-core kernel is to
// beat (issue 16).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace vrwkv {

constexpr int64_t kWkv7CudaHeadSize = 64;
constexpr int64_t kWkv7CudaChunk = 16;

// What the forward keeps for the backward, in float32: s = S_{t-1} alpha_t per step ([B, T, H, N])
// and the state after every 16th step and after the last ([B, H, ceil(T / 16), N, N], key-major).
inline int64_t wkv7_sa_floats(int64_t B, int64_t T, int64_t H) { return B * T * H * kWkv7CudaHeadSize; }
inline int64_t wkv7_snapshot_floats(int64_t B, int64_t T, int64_t H) {
  return B * H * ((T + kWkv7CudaChunk - 1) / kWkv7CudaChunk) * kWkv7CudaHeadSize * kWkv7CudaHeadSize;
}

// y = wkv7(r, w, k, v, alpha, beta) from state_in ([B, H, N, N] row-major, S[i][j] with i the value
// channel; null: zeros). Optional outputs (null: not written): state_out (same layout as state_in; may
// not alias it), sa and snapshots (sizes above) for wkv7_backward_cuda.
template <typename scalar_t>
cudaError_t wkv7_forward_cuda(const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                              const scalar_t* alpha, const scalar_t* beta, scalar_t* y, const float* state_in,
                              float* state_out, float* sa, float* snapshots, int64_t B, int64_t T, int64_t H,
                              int64_t N, cudaStream_t stream);

// Gradients of a forward from zeros given dy, from that forward's sa and snapshots: dr, dw, dk, dv,
// dalpha, dbeta, [B, T, H, N] in the input type. ds_scratch: wkv7_sa_floats(B, T, H) floats of device
// memory (any content).
template <typename scalar_t>
cudaError_t wkv7_backward_cuda(const scalar_t* r, const scalar_t* w, const scalar_t* k, const scalar_t* v,
                               const scalar_t* alpha, const scalar_t* beta, const scalar_t* dy, const float* sa,
                               const float* snapshots, float* ds_scratch, scalar_t* dr, scalar_t* dw, scalar_t* dk,
                               scalar_t* dv, scalar_t* dalpha, scalar_t* dbeta, int64_t B, int64_t T, int64_t H,
                               int64_t N, cudaStream_t stream);

// Instantiated in wkv7_kernels.cu for these two types only.
extern template cudaError_t wkv7_forward_cuda<float>(const float*, const float*, const float*, const float*,
                                                     const float*, const float*, float*, const float*, float*,
                                                     float*, float*, int64_t, int64_t, int64_t, int64_t,
                                                     cudaStream_t);
extern template cudaError_t wkv7_forward_cuda<__nv_bfloat16>(
    const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
    const __nv_bfloat16*, __nv_bfloat16*, const float*, float*, float*, float*, int64_t, int64_t, int64_t, int64_t,
    cudaStream_t);
extern template cudaError_t wkv7_backward_cuda<float>(const float*, const float*, const float*, const float*,
                                                      const float*, const float*, const float*, const float*,
                                                      const float*, float*, float*, float*, float*, float*, float*,
                                                      float*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
extern template cudaError_t wkv7_backward_cuda<__nv_bfloat16>(
    const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*,
    const __nv_bfloat16*, const __nv_bfloat16*, const float*, const float*, float*, __nv_bfloat16*, __nv_bfloat16*,
    __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace vrwkv
