// Heads of fewer channels than a CUDA kernel is built for, run zero-padded: the WKV6 and WKV7
// kernels both take 64 channels a head, and a zero channel adds nothing to the real ones.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

// [..., H * head_size] -> [..., H * padded] with zeros after each head's channels, and back.
torch::Tensor pad_heads(const torch::Tensor& x, int64_t head_size, int64_t padded);
torch::Tensor unpad_heads(const torch::Tensor& x, int64_t head_size, int64_t padded);

}  // namespace vrwkv
