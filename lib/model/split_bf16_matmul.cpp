#include "model/split_bf16_matmul.h"

#include "base/error.h"
#include "base/torch_compat.h"

namespace vrwkv {
namespace {

// A float32 operand as hi + lo, both bfloat16; transposed() swaps the last two axes of both halves.
struct Halves {
  torch::Tensor hi, lo;
  Halves transposed() const { return {hi.transpose(1, 2), lo.transpose(1, 2)}; }
};

Halves split(const torch::Tensor& x) {
  auto hi = x.to(torch::kBFloat16);
  return {hi, (x - hi.to(torch::kFloat32)).to(torch::kBFloat16)};
}

// The three-term product on 3-d [batch, m, k] x [batch, k, n] operands. No autograd.
torch::Tensor product(const Halves& a, const Halves& b) {
  return compat::bmm_bfloat16_to_float(torch::cat({a.hi, a.hi, a.lo}, 2), torch::cat({b.hi, b.lo, b.hi}, 1));
}

// Keeps the operands' halves (as many bytes as the float32 operands) so the backward splits only the
// incoming gradient.
class SplitBf16Matmul : public torch::autograd::Function<SplitBf16Matmul> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a, const torch::Tensor& b) {
    const auto sa = split(a), sb = split(b);
    ctx->save_for_backward({sa.hi, sa.lo, sb.hi, sb.lo});
    return product(sa, sb);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Halves sa{saved[0], saved[1]}, sb{saved[2], saved[3]};
    const auto sg = split(grads[0]);
    return {product(sg, sb.transposed()), product(sa.transposed(), sg)};
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
