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

// training_loss(hidden.matmul(head_weight.t()), labels), value and gradients (w.r.t. hidden and
// head_weight), without materialising the [B, T, V] logits: the flattened B*T positions go through
// the head in chunks of `chunk_positions` (0: chosen from a per-device byte budget), each chunk's
// softmax gradient is formed in place in one reused [P, V] buffer and multiplied straight into the
// hidden states' gradient and a float32 (float64) head-gradient accumulator. The gradients are
// computed in the forward pass when GradMode is on and an input requires grad (backward only scales
// them by the incoming gradient), the head's only when head_weight requires grad.
// hidden [B, T, C] (ln_out's output), head_weight [V, C] (no bias), labels [B, T] int64 (any device).
// Extra memory: O(P * V) plus the gradients themselves.
torch::Tensor chunked_training_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight,
                                    const torch::Tensor& labels, int64_t chunk_positions = 0);

// Each sample's own loss, as next_token_loss takes it before the batch mean (its mean next-token
// cross entropy), for validation: no gradients, no L2Wrap, the positions through the head in chunks
// as chunked_training_loss does. loss [B] float64 (0 for a sample without targets), targets [B]
// int64: the sample's predicted labels.
struct SampleLosses {
  torch::Tensor loss, targets;
};
SampleLosses per_sample_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight, const torch::Tensor& labels,
                             int64_t chunk_positions = 0);

// The chunk size chunked_training_loss uses for chunk_positions = 0.
int64_t auto_chunk_positions(const torch::Device& device, torch::ScalarType dtype, int64_t vocab_size);

}  // namespace vrwkv
