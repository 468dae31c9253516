// What the torch glue of every CUDA kernel needs: typed raw pointers into contiguous tensors and a
// launch result turned into a vrwkv::Error naming the operator.
#pragma once
#include <cuda_runtime_api.h>
#include <torch/torch.h>

#include "base/error.h"

namespace vrwkv::cuda_glue {

inline void check_cuda(cudaError_t err, const char* op) {
  VRWKV_CHECK(err == cudaSuccess, op, ": CUDA error ", cudaGetErrorName(err), ": ", cudaGetErrorString(err));
}

template <typename S>
inline const S* in_ptr(const torch::Tensor& t) {
  return static_cast<const S*>(t.data_ptr());
}

template <typename S>
inline S* out_ptr(const torch::Tensor& t) {
  return static_cast<S*>(t.data_ptr());
}

}  // namespace vrwkv::cuda_glue
