// v7's projector "mlp" (SPEC-v7 section 6, MLPWithContextGating): out = ln_v(o_proj(x * sigmoid(gate(x)))),
// from the towers' concatenated width (3200) to the LM's C. Its names (gate, o_proj, ln_v) are the
// original's under `proj.`; the "linear" projector is a plain bias-free Linear named `proj`.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

struct GatedProjectorImpl : torch::nn::Module {
  // PyTorch's default initialisation (U(+-1/sqrt(in)), LayerNorm 1 / 0), as the original.
  GatedProjectorImpl(int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear gate{nullptr}, o_proj{nullptr};
  torch::nn::LayerNorm ln_v{nullptr};
};
TORCH_MODULE(GatedProjector);

}  // namespace vrwkv
