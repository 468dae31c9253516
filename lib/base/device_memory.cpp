#include "base/device_memory.h"

#include "base/build_config.h"
#include "base/torch_compat.h"

#if VRWKV_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace vrwkv {

#if VRWKV_WITH_CUDA
// Without a usable GPU (a CUDA build on a CPU machine) there is nothing to read or reset; asking the
// allocator would fail on the missing driver.
namespace {
bool have_cuda() { return c10::cuda::device_count() > 0; }
}  // namespace

int64_t cuda_peak_allocated_bytes() {
  if (!have_cuda()) return 0;
  using namespace c10::cuda::CUDACachingAllocator;
  const auto stats = getDeviceStats(c10::cuda::current_device());
  return stats.allocated_bytes[compat::kAllocatorStatAggregate].peak;
}
void cuda_reset_peak_memory() {
  if (have_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
}
#else
int64_t cuda_peak_allocated_bytes() { return 0; }
void cuda_reset_peak_memory() {}
#endif

}  // namespace vrwkv
