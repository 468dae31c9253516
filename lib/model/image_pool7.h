// v7's pooling of a tower grid to K image tokens (SPEC-v7 section 6): nn.AdaptiveAvgPool2d(s) with
// s = sqrt(K) over the 32 x 32 grid of patch features, flattened row-major. It has no parameters
// and runs before the projector.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

// The side s of the pooled grid for K tokens per image; throws vrwkv::Error unless K is a square
// s * s with 1 <= s <= grid_side (the original would silently make s * s != K tokens).
int64_t pooled_side(int64_t tokens_per_image, int64_t grid_side);

// features [N, grid_side^2, D] (row-major grid) -> [N, K, D]. Bin i of s covers rows
// [floor(i * side / s), ceil((i + 1) * side / s)), as AdaptiveAvgPool2d; K = side^2 is the identity.
torch::Tensor pool_image_grid(const torch::Tensor& features, int64_t tokens_per_image);

}  // namespace vrwkv
