#include "model/image_placement.h"

#include "base/error.h"

namespace vrwkv {

ImagePlacement plan_image_placement(const torch::Tensor& input_ids, int64_t images, int64_t K) {
  VRWKV_CHECK(input_ids.dim() == 2 && input_ids.device().is_cpu(), "input_ids must be [B, T] on the CPU, got ",
              input_ids.sizes(), " on ", input_ids.device());
  VRWKV_CHECK(K > 0 && images >= 0, "image placement needs K > 0 and images >= 0, got K ", K, ", ", images, " images");
  const int64_t T = input_ids.size(1);
  const auto positions = (input_ids.to(torch::kInt64).flatten() == kV7ImagePlaceholderId).nonzero().flatten();
  const int64_t found = positions.numel();
  VRWKV_CHECK(found == images * K, "the batch holds ", found, " image placeholder ids (", kV7ImagePlaceholderId,
              ") but its ", images, " images need ", images * K, " (", K,
              " each): a sample whose image was cut must be skipped, not trained on misaligned");
  // Each image's K positions must be one run inside one sample: a run split across samples or broken
  // by text would put one image's tokens in two places.
  const auto* p = positions.data_ptr<int64_t>();
  for (int64_t n = 0; n < images; ++n) {
    const int64_t first = p[n * K], last = p[n * K + K - 1];
    VRWKV_CHECK(last - first == K - 1 && first / T == last / T, "image ", n, " of the batch: its ", K,
                " placeholder ids are not one run in one sample (positions ", first % T, " to ", last % T, " of samples ",
                first / T, " and ", last / T, ")");
  }
  return {positions, images, K};
}

torch::Tensor place_image_tokens(const torch::Tensor& embeds, const ImagePlacement& plan,
                                 const torch::Tensor& image_tokens) {
  const int64_t B = embeds.size(0), T = embeds.size(1), C = embeds.size(2);
  VRWKV_CHECK(image_tokens.dim() == 3 && image_tokens.size(0) == plan.images &&
                  image_tokens.size(1) == plan.tokens_per_image && image_tokens.size(2) == C,
              "image tokens must be [", plan.images, ", ", plan.tokens_per_image, ", ", C, "], got ",
              image_tokens.sizes());
  if (plan.images == 0) return embeds;
  const auto index = plan.positions.to(embeds.device());
  const auto rows = image_tokens.reshape({-1, C}).to(embeds.scalar_type());
  return embeds.reshape({B * T, C}).index_copy(0, index, rows).view({B, T, C});
}

}  // namespace vrwkv
