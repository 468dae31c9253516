// The CUDA path of the WKV6 operator (model/wkv6.h): same arguments and results as the CPU kernels,
// for tensors on one CUDA device. Built only when libtorch has CUDA (VRWKV_WITH_CUDA in CMake).
//
// r, k, v, w: [B, T, H * 64], all bfloat16 or all float32; u: [H, 64], float32 or bfloat16.
// Head size 64 only. Inputs need not be contiguous. Runs on the current CUDA stream of r's device.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace vrwkv {

// Returns y: [B, T, C] in the dtype of r.
torch::Tensor wkv6_cuda_forward(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& w, const torch::Tensor& u);

// Returns {dr, dk, dv, dw, du} in the dtypes of r, k, v, w, u, given dy: [B, T, C] (any floating dtype).
std::vector<torch::Tensor> wkv6_cuda_backward(const torch::Tensor& r, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& w,
                                              const torch::Tensor& u, const torch::Tensor& dy);

}  // namespace vrwkv
