#include "model/token_shift.h"

namespace vrwkv {

torch::Tensor token_shift(const torch::Tensor& x) {
  using torch::indexing::Slice;
  return torch::constant_pad_nd(x, {0, 0, 1, 0}).index({Slice(), Slice(0, x.size(1))});
}

torch::Tensor shifted(const torch::Tensor& x, const LayerState* state, torch::Tensor LayerState::*prev, bool fresh) {
  if (!state || fresh) return token_shift(x);
  const auto p = (state->*prev).to(x.dtype()).unsqueeze(1);
  if (x.size(1) == 1) return p;
  return torch::cat({p, x.narrow(1, 0, x.size(1) - 1)}, 1);
}

torch::Tensor last_position(const torch::Tensor& x) { return x.select(1, x.size(1) - 1).clone(); }

}  // namespace vrwkv
