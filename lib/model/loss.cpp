#include "model/loss.h"

#include "model/sequence.h"

namespace vrwkv {

torch::Tensor next_token_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  using torch::indexing::Slice;
  const int64_t B = logits.size(0), V = logits.size(2);
  // bf16 logits are upcast for the softmax; float64 stays float64 (the gradient tests need it).
  const auto type = logits.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const auto pred = logits.index({Slice(), Slice(0, -1)}).to(type).reshape({-1, V});
  const auto target = labels.index({Slice(), Slice(1, torch::indexing::None)}).to(logits.device());
  namespace F = torch::nn::functional;
  const auto per_token = F::cross_entropy(
      pred, target.reshape({-1}), F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kNone));
  const auto per_sample = per_token.view({B, -1}).sum(1);
  const auto count = (target != kIgnoreLabel).sum(1).clamp_min(1).to(per_sample.dtype());
  return (per_sample / count).mean();
}

namespace {

class L2WrapFunction : public torch::autograd::Function<L2WrapFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& loss,
                               const torch::Tensor& logits) {
    ctx->save_for_backward({logits});
    return loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto logits = ctx->get_saved_variables()[0];
    const double factor = kL2WrapFactor / double(logits.size(0) * logits.size(1));
    const auto [max_value, max_index] = logits.max(-1, /*keepdim=*/true);
    // Scaled by the incoming gradient (1 for a plain loss), so that gradient accumulation, which
    // backpropagates loss / accumulation_steps, adds up to exactly the gradient of one large batch.
    auto extra = torch::zeros_like(logits).scatter_(-1, max_index, max_value * factor) * grads[0];
    return {grads[0], extra};
  }
};

}  // namespace

torch::Tensor l2wrap(const torch::Tensor& loss, const torch::Tensor& logits) {
  return L2WrapFunction::apply(loss, logits);
}

torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return l2wrap(next_token_loss(logits, labels), logits);
}

}  // namespace vrwkv
