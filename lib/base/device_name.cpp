#include "base/device_name.h"

#include "base/build_config.h"

#if VRWKV_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace vrwkv {

#if VRWKV_WITH_CUDA
std::string cuda_device_name(int index) {
  const int device = index < 0 ? int(c10::cuda::current_device()) : index;
  cudaDeviceProp properties;
  if (cudaGetDeviceProperties(&properties, device) != cudaSuccess) return "";
  return properties.name;
}
#else
std::string cuda_device_name(int) { return ""; }
#endif

}  // namespace vrwkv
