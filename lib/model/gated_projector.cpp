#include "model/gated_projector.h"

#include "model/layers.h"

namespace vrwkv {

GatedProjectorImpl::GatedProjectorImpl(int64_t in_features, int64_t out_features) {
  // Linear's default init is PyTorch's U(+-1/sqrt(in)) (kaiming_uniform with a = sqrt(5)).
  gate = register_module("gate", layers::linear(in_features, in_features));
  o_proj = register_module("o_proj", layers::linear(in_features, out_features));
  ln_v = register_module("ln_v", layers::layer_norm(out_features));
}

torch::Tensor GatedProjectorImpl::forward(const torch::Tensor& x) {
  return ln_v(o_proj(x * torch::sigmoid(gate(x))));
}

}  // namespace vrwkv
