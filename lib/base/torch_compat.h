// The only place that knows which libtorch we build against (Debian's 1.13 CPU or 2.x CUDA).
#pragma once
#include <torch/version.h>

#include <cstddef>

#define VRWKV_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vrwkv::compat {

inline constexpr bool kTorch2 = VRWKV_TORCH_AT_LEAST(2, 0);

// The caching allocator's statistics are arrays indexed by StatType, whose AGGREGATE (all pools) is
// 0 in every version; the enum itself moved (c10::cuda::CUDACachingAllocator in 1.x, c10 in 2.x).
inline constexpr size_t kAllocatorStatAggregate = 0;

}  // namespace vrwkv::compat
