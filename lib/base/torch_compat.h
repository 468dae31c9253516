// The only place that knows which libtorch we build against (Debian's 1.13 CPU or 2.x CUDA).
#pragma once
#include <ATen/ATen.h>
#include <torch/version.h>

#include <cstddef>

#define VRWKV_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vrwkv::compat {

inline constexpr bool kTorch2 = VRWKV_TORCH_AT_LEAST(2, 0);

// The caching allocator's statistics are arrays indexed by StatType, whose AGGREGATE (all pools) is
// 0 in every version; the enum itself moved (c10::cuda::CUDACachingAllocator in 1.x, c10 in 2.x).
inline constexpr size_t kAllocatorStatAggregate = 0;

// Batched products of bfloat16 operands with a float32 result: on CUDA, libtorch 2.11 (the 2.x this
// project builds and checks) gives them to cuBLAS directly (tensor cores, float32 accumulation and
// output); otherwise the operands are widened first, which gives the same exact products and float32
// sums (bfloat16 products are exact in float32), only without the tensor cores.
inline at::Tensor bmm_bfloat16_to_float(const at::Tensor& a, const at::Tensor& b) {
#if VRWKV_TORCH_AT_LEAST(2, 11)
  if (a.is_cuda()) return at::bmm(a, b, at::kFloat);
#endif
  return at::bmm(a.to(at::kFloat), b.to(at::kFloat));
}

}  // namespace vrwkv::compat
