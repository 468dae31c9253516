// CUDA kernels of the RWKV-6 WKV recurrence (SPEC section 2; equations in model/wkv6.h and wkv6.cpp).
//
// Plain CUDA, no torch: the launchers take raw device pointers to contiguous tensors laid out as
// [B, T, H, N] (that is [B, T, C] with C = H * N) and u as [H, N] in float32. The head size N is fixed
// at 64; the launchers return cudaErrorInvalidValue for any other N. The state and all sums are
// float32 whatever the input type (float or __nv_bfloat16). Kernels are enqueued on `stream`; the
// launchers do not synchronize, and report launch errors (cudaGetLastError) as their result.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace vrwkv {

constexpr int64_t kWkv6HeadSize = 64;

// y = wkv6(r, k, v, w, u). Returns cudaSuccess without launching anything when B * T * H == 0.
template <typename scalar_t>
cudaError_t wkv6_forward_cuda(const scalar_t* r, const scalar_t* k, const scalar_t* v, const scalar_t* w,
                              const float* u, scalar_t* y, int64_t B, int64_t T, int64_t H, int64_t N,
                              cudaStream_t stream);

// Device scratch memory, in bytes, that wkv6_backward_cuda needs for these sizes.
size_t wkv6_backward_workspace_bytes(int64_t B, int64_t T, int64_t H);

// Gradients of wkv6 given dy: dr, dk, dv, dw are [B, T, H, N] in the input type; du is [H, N] float32,
// summed over the batch (written, not accumulated into; zero when B * T == 0). `workspace` must hold
// wkv6_backward_workspace_bytes(B, T, H) bytes (any content; 16-byte aligned).
template <typename scalar_t>
cudaError_t wkv6_backward_cuda(const scalar_t* r, const scalar_t* k, const scalar_t* v, const scalar_t* w,
                               const float* u, const scalar_t* dy, scalar_t* dr, scalar_t* dk, scalar_t* dv,
                               scalar_t* dw, float* du, void* workspace, size_t workspace_bytes, int64_t B,
                               int64_t T, int64_t H, int64_t N, cudaStream_t stream);

// Instantiated in wkv6_kernels.cu for these two types only.
extern template cudaError_t wkv6_forward_cuda<float>(const float*, const float*, const float*, const float*,
                                                     const float*, float*, int64_t, int64_t, int64_t, int64_t,
                                                     cudaStream_t);
extern template cudaError_t wkv6_forward_cuda<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                             const __nv_bfloat16*, const __nv_bfloat16*,
                                                             const float*, __nv_bfloat16*, int64_t, int64_t,
                                                             int64_t, int64_t, cudaStream_t);
extern template cudaError_t wkv6_backward_cuda<float>(const float*, const float*, const float*, const float*,
                                                      const float*, const float*, float*, float*, float*,
                                                      float*, float*, void*, size_t, int64_t, int64_t,
                                                      int64_t, int64_t, cudaStream_t);
extern template cudaError_t wkv6_backward_cuda<__nv_bfloat16>(
    const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, const float*,
    const __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, float*, void*, size_t,
    int64_t, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace vrwkv
