// Torch glue of the chunk-to-chunk state scan's CUDA kernel (model/cuda/state_scan_kernels.cuh), for
// model/state_scan. Built only when libtorch has CUDA (VRWKV_WITH_CUDA in CMake).
#pragma once
#include <torch/torch.h>

#include <utility>

namespace vrwkv {

// M, X: [count, batch, 64, 64] float32 on one CUDA device; state_in: [batch, 64, 64] float32 there.
// Returns {S before each step [count, batch, 64, 64], the last S [batch, 64, 64]} (model/state_scan.h).
std::pair<torch::Tensor, torch::Tensor> state_scan_cuda_run(const torch::Tensor& M, const torch::Tensor& X,
                                                            const torch::Tensor& state_in, bool reverse,
                                                            bool transpose);

}  // namespace vrwkv
