#include "model/split_bf16_matmul.h"

#include "base/error.h"
#include "base/torch_compat.h"

namespace vrwkv {
namespace {

// The three-term product on 3-d [batch, m, k] x [batch, k, n] float32 operands. No autograd.
torch::Tensor product(const torch::Tensor& a, const torch::Tensor& b) {
  const auto hi_a = a.to(torch::kBFloat16), hi_b = b.to(torch::kBFloat16);
  const auto lo_a = (a - hi_a.to(torch::kFloat32)).to(torch::kBFloat16);
  const auto lo_b = (b - hi_b.to(torch::kFloat32)).to(torch::kBFloat16);
  return compat::bmm_bfloat16_to_float(torch::cat({hi_a, hi_a, lo_a}, 2), torch::cat({hi_b, lo_b, hi_b}, 1));
}

class SplitBf16Matmul : public torch::autograd::Function<SplitBf16Matmul> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a, const torch::Tensor& b) {
    ctx->save_for_backward({a, b});
    return product(a, b);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1];
    const auto g = grads[0].to(torch::kFloat32);
    return {product(g, b.transpose(1, 2)), product(a.transpose(1, 2), g)};
  }
};

}  // namespace

torch::Tensor split_bf16_matmul(const torch::Tensor& a, const torch::Tensor& b) {
  VRWKV_CHECK(a.dim() >= 2 && b.dim() == a.dim() &&
                  a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2) && a.size(-1) == b.size(-2),
              "split_bf16_matmul: a ", a.sizes(), " and b ", b.sizes(), " are not [..., m, k] and [..., k, n]");
  VRWKV_CHECK(a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32,
              "split_bf16_matmul: float32 operands, got ", a.scalar_type(), " and ", b.scalar_type());
  VRWKV_CHECK(a.device() == b.device(), "split_bf16_matmul: a on ", a.device(), ", b on ", b.device());
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  std::vector<int64_t> out_sizes(a.sizes().begin(), a.sizes().end());
  out_sizes.back() = n;
  const auto out = SplitBf16Matmul::apply(a.reshape({-1, m, k}), b.reshape({-1, k, n}));
  return out.view(out_sizes);
}

}  // namespace vrwkv
