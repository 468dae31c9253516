// The chunk-to-chunk recurrence of the chunked WKV7 (model/wkv7_chunked.h) as one differentiable
// operator: S_{c+1} = S_c A_c + H_c for c = 0..count-1 from S_0.
//
// Written step by step with torch ops it costs one launch per chunk forward and several backward (128
// chunks at T 2048). Here the forward is one scan, and the backward one scan in reverse,
//   G = dL/dS_count;  for c = count-1..0:  dH_c = G;  G = G A_c^T + dL/dS_c (direct);  dS_0 = G,
// plus one batched product dA_c = S_c^T dH_c. On CUDA, float32 with 64 x 64 states, each scan is one
// kernel (model/cuda/state_scan_kernels.cuh); elsewhere a loop of batched products.
#pragma once
#include <torch/torch.h>

#include <utility>

namespace vrwkv {

// A, H: [count, batch, N, N]; S0: [batch, N, N]; one dtype and device. Returns {S_c before each step
// [count, batch, N, N], S_count [batch, N, N]}, differentiable with respect to A, H and S0.
std::pair<torch::Tensor, torch::Tensor> chunk_state_scan(const torch::Tensor& A, const torch::Tensor& H,
                                                         const torch::Tensor& S0);

}  // namespace vrwkv
