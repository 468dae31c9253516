// v7's way of putting images into the token sequence (SPEC-v7 section 7, preparing_embedding): each
// image is K consecutive placeholder ids 65535 in the ids, and the projected image tokens overwrite
// their embeddings in place, image n of the batch (in sample order) filling the n-th run of K.
//
// The original only compares counts, warns and keeps the first rows, which misaligns every later
// image when a truncation has cut one: here the plan checks that the ids hold exactly one whole run
// of K per image and is an error otherwise (the dataset skips such samples before they get here).
#pragma once
#include <torch/torch.h>

namespace vrwkv {

inline constexpr int64_t kV7ImagePlaceholderId = 65535;

struct ImagePlacement {
  torch::Tensor positions;  // [images * K] int64 on the CPU: flat positions b * T + t, row-major
  int64_t images = 0;
  int64_t tokens_per_image = 0;
};

// input_ids [B, T] int64 on the CPU; `images` is the number of images of the batch, in order.
ImagePlacement plan_image_placement(const torch::Tensor& input_ids, int64_t images, int64_t tokens_per_image);

// embeds [B, T, C] with the planned positions replaced by image_tokens [images, K, C]; differentiable in
// both (the overwritten embeddings get no gradient). One index copy, on the embeddings' device.
torch::Tensor place_image_tokens(const torch::Tensor& embeds, const ImagePlacement& plan,
                                 const torch::Tensor& image_tokens);

}  // namespace vrwkv
