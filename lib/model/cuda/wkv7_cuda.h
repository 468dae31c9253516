// The CUDA path of the WKV7 operator (model/wkv7.h) for tensors on one CUDA device. Built only when
// libtorch has CUDA (VRWKV_WITH_CUDA in CMake).
//
// r, w, k, v, alpha, beta: [B, T, H * 64], all bfloat16 or all float32 (head size 64 only; model/wkv7
// pads smaller heads). Inputs need not be contiguous. Runs on the current CUDA stream of r's device.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

namespace vrwkv {

struct Wkv7CudaForward {
  torch::Tensor y;          // [B, T, C], r's dtype
  torch::Tensor sa;         // float32: what the backward needs (model/cuda/wkv7_kernels.cuh)
  torch::Tensor snapshots;  // float32
};

// The training forward from zeros, keeping what wkv7_cuda_backward needs.
Wkv7CudaForward wkv7_cuda_forward(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& alpha, const torch::Tensor& beta);

// The forward from state0 [B, H, 64, 64] float32 (undefined: zeros), as for decoding; returns
// {y, the float32 state after the last step}, both on r's device.
std::pair<torch::Tensor, torch::Tensor> wkv7_cuda_forward_from_state(const torch::Tensor& r, const torch::Tensor& w,
                                                                     const torch::Tensor& k, const torch::Tensor& v,
                                                                     const torch::Tensor& alpha,
                                                                     const torch::Tensor& beta,
                                                                     const torch::Tensor& state0);

// {dr, dw, dk, dv, dalpha, dbeta} in the inputs' dtype, given dy [B, T, C] (any floating dtype) and the
// forward's sa and snapshots.
std::vector<torch::Tensor> wkv7_cuda_backward(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& alpha,
                                              const torch::Tensor& beta, const torch::Tensor& dy,
                                              const torch::Tensor& sa, const torch::Tensor& snapshots);

}  // namespace vrwkv
