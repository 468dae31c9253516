// The training loss of SPEC section 6: per-sample mean next-token cross entropy, averaged over the
// batch, with RWKV's L2Wrap (an extra gradient on each position's largest logit).
#pragma once
#include <torch/torch.h>

namespace vrwkv {

constexpr double kL2WrapFactor = 1e-4;

// logits [B, T, V], labels [B, T] (kIgnoreLabel ignored). Predicts label t+1 at position t.
torch::Tensor next_token_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// Returns `loss` unchanged; in backward adds, at every position of `logits`, an extra gradient of
// max_logit * kL2WrapFactor / (B * T) on its arg-max entry, times the incoming gradient (1 when the
// loss is backpropagated directly, as in the fixtures; the original ignored the incoming gradient,
// which made gradient accumulation weigh this term by the number of accumulation steps).
torch::Tensor l2wrap(const torch::Tensor& loss, const torch::Tensor& logits);

// next_token_loss followed by l2wrap: what the original trains on.
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace vrwkv
