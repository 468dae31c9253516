// The only place that knows which libtorch we build against (Debian's 1.13 CPU or 2.x CUDA).
#pragma once
#include <torch/version.h>

#define VRWKV_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace vrwkv::compat {

inline constexpr bool kTorch2 = VRWKV_TORCH_AT_LEAST(2, 0);

}  // namespace vrwkv::compat
