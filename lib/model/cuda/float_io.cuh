// The kernels' inputs are float or bf16 and their arithmetic float32: the two conversions, shared by
// the WKV6 and WKV7 kernels (device code only).
#pragma once

#include <cuda_bf16.h>

namespace vrwkv::cuda_io {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename S>
__device__ __forceinline__ S from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

}  // namespace vrwkv::cuda_io
