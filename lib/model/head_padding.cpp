#include "model/head_padding.h"

#include "base/error.h"

namespace vrwkv {

torch::Tensor pad_heads(const torch::Tensor& x, int64_t head_size, int64_t padded) {
  VRWKV_CHECK(head_size > 0 && padded >= head_size && x.size(-1) % head_size == 0, "pad_heads: last dim ",
              x.size(-1), " is not a multiple of head size ", head_size, " (padding to ", padded, ")");
  if (padded == head_size) return x;
  auto sizes = x.sizes().vec();
  const int64_t H = sizes.back() / head_size;
  sizes.back() = H;
  sizes.push_back(head_size);
  auto split = x.reshape(sizes);
  auto zero_sizes = sizes;
  zero_sizes.back() = padded - head_size;
  auto out = torch::cat({split, torch::zeros(zero_sizes, x.options())}, -1);
  sizes.pop_back();
  sizes.back() = H * padded;
  return out.reshape(sizes);
}

torch::Tensor unpad_heads(const torch::Tensor& x, int64_t head_size, int64_t padded) {
  VRWKV_CHECK(padded > 0 && x.size(-1) % padded == 0, "unpad_heads: last dim ", x.size(-1),
              " is not a multiple of ", padded);
  if (padded == head_size) return x;
  auto sizes = x.sizes().vec();
  const int64_t H = sizes.back() / padded;
  sizes.back() = H;
  sizes.push_back(padded);
  auto kept = x.reshape(sizes).narrow(-1, 0, head_size);
  sizes.pop_back();
  sizes.back() = H * head_size;
  return kept.reshape(sizes);
}

}  // namespace vrwkv
