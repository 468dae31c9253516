#include "base/device_memory.h"

#include "base/build_config.h"
#include "base/torch_compat.h"

#if VRWKV_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace vrwkv {

#if VRWKV_WITH_CUDA
int64_t cuda_peak_allocated_bytes() {
  using namespace c10::cuda::CUDACachingAllocator;
  const auto stats = getDeviceStats(c10::cuda::current_device());
  return stats.allocated_bytes[compat::kAllocatorStatAggregate].peak;
}
void cuda_reset_peak_memory() { c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device()); }
#else
int64_t cuda_peak_allocated_bytes() { return 0; }
void cuda_reset_peak_memory() {}
#endif

}  // namespace vrwkv
