#include "model/loss.h"

#include <algorithm>

#include "base/error.h"
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

int64_t auto_chunk_positions(const torch::Device& device, torch::ScalarType dtype, int64_t vocab_size) {
  // On the CPU the chunk's buffers should stay cache-sized (and far below glibc's 32 MiB mmap
  // threshold, so nothing is faulted in per step); larger chunks mainly cost cache misses. On CUDA a
  // chunk only has to be large enough to keep the matrix products efficient.
  const int64_t budget = device.is_cuda() ? (int64_t{256} << 20) : (int64_t{16} << 20);
  const int64_t compute_bytes = dtype == torch::kFloat64 ? 8 : 4;
  const int64_t model_bytes = (dtype == torch::kFloat64 || dtype == torch::kFloat32) ? 0 : c10::elementSize(dtype);
  return std::max<int64_t>(1, budget / (std::max<int64_t>(1, vocab_size) * (compute_bytes + model_bytes)));
}

SampleLosses per_sample_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight, const torch::Tensor& labels,
                             int64_t chunk_positions) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  torch::NoGradGuard no_grad;
  const int64_t B = hidden.size(0), T = hidden.size(1), C = hidden.size(2), V = head_weight.size(0);
  const auto device = hidden.device();
  const auto type = hidden.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  // Only the positions with a target go through the head.
  auto target = labels.index({Slice(), Slice(1, None)}).to(device).reshape({-1});
  const auto valid = target != kIgnoreLabel;
  const auto keep = valid.nonzero().squeeze(1);
  const auto h = hidden.index({Slice(), Slice(0, -1)}).reshape({-1, C}).index_select(0, keep);
  const auto row = torch::arange(B, torch::TensorOptions().dtype(torch::kInt64).device(device))
                       .repeat_interleave(std::max<int64_t>(T - 1, 0))
                       .index_select(0, keep);
  target = target.index_select(0, keep);
  auto sums = torch::zeros({B}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  const int64_t P = chunk_positions > 0 ? chunk_positions : auto_chunk_positions(device, hidden.scalar_type(), V);
  const auto w = head_weight.t();
  for (int64_t start = 0; start < h.size(0); start += P) {
    const int64_t n = std::min(P, h.size(0) - start);
    const auto logits = h.narrow(0, start, n).matmul(w).to(type);
    const auto nll = logits.logsumexp(1) - logits.gather(1, target.narrow(0, start, n).unsqueeze(1)).squeeze(1);
    sums.index_add_(0, row.narrow(0, start, n), nll.to(torch::kFloat64));
  }
  const auto targets = valid.view({B, -1}).sum(1);
  return {sums / targets.clamp_min(1).to(torch::kFloat64), targets};
}

namespace {

struct ChunkedResult {
  torch::Tensor loss;         // 0-dim, compute dtype
  torch::Tensor grad_hidden;  // [B, T, C] in hidden's dtype, for an incoming gradient of 1 (or undefined)
  torch::Tensor grad_weight;  // [V, C] in the weight's dtype, likewise (or undefined)
};

// The loss of SPEC section 6 and, on request, its gradients (L2Wrap included) for an incoming
// gradient of 1. Per position n with target y (the next label) and weight w = 1 / (B * valid labels
// of its sample) (0 where y is ignored), the logits z = h W^T get the gradient
//   w * (softmax(z) - onehot(y)) + max(z) * kL2WrapFactor / (B * T) * onehot(argmax(z)),
// which is what next_token_loss and l2wrap backpropagate, formed chunk by chunk.
ChunkedResult chunked_loss_and_grads(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& labels, int64_t chunk, bool grad_h, bool grad_w) {
  using torch::indexing::Slice;
  const int64_t B = hidden.size(0), T = hidden.size(1), C = hidden.size(2), V = weight.size(0), N = B * T;
  const auto model_type = hidden.scalar_type();
  const auto type = model_type == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const auto device = hidden.device();
  const auto compute = torch::TensorOptions().dtype(type).device(device);
  if (chunk <= 0) chunk = auto_chunk_positions(device, model_type, V);
  chunk = std::min(chunk, std::max<int64_t>(N, 1));

  // Targets and weights per flattened position, once. The last position of each sample has no
  // target; ignored targets point at entry 0 with weight 0 so the gathers stay in range.
  const auto lab = labels.to(device, torch::kInt64);
  auto target = torch::full({B, T}, kIgnoreLabel, lab.options());
  if (T > 1) target.index_put_({Slice(), Slice(0, T - 1)}, lab.index({Slice(), Slice(1, torch::indexing::None)}));
  const auto valid = target != kIgnoreLabel;
  const auto count = valid.sum(1, /*keepdim=*/true).clamp_min(1).to(type);
  const auto pos_weight = (valid.to(type) / (count * double(B))).reshape({N, 1});
  const auto target_index = target.clamp_min(0).reshape({N, 1});
  const double l2_factor = kL2WrapFactor / double(N);

  const auto h = hidden.reshape({N, C}).contiguous();
  const auto w = weight.contiguous();
  const bool need_grad = grad_h || grad_w;
  const bool upcast = model_type != type;
  // One buffer for the chunk's logits in the model dtype (reused for the gradient's downcast) and,
  // for bf16/fp16 models, one in float32 for the softmax.
  auto logits_buf = torch::empty({chunk, V}, hidden.options());
  auto work_buf = upcast ? torch::empty({chunk, V}, compute) : logits_buf;
  torch::Tensor grad_hidden, grad_weight, weight_part;
  if (grad_h) grad_hidden = torch::empty({N, C}, hidden.options());
  if (grad_w) {
    grad_weight = torch::zeros({V, C}, compute);
    // The chunk's product lands in the model dtype; only the sum over chunks is kept in float32.
    if (upcast) weight_part = torch::empty({V, C}, weight.options());
  }
  auto loss = torch::zeros({}, compute);

  for (int64_t start = 0; start < N; start += chunk) {
    const int64_t p = std::min(chunk, N - start);
    const auto h_chunk = h.narrow(0, start, p);
    auto logits = logits_buf.narrow(0, 0, p);
    auto z = work_buf.narrow(0, 0, p);
    at::mm_out(logits, h_chunk, w.t());
    if (upcast) z.copy_(logits);
    const auto tgt = target_index.narrow(0, start, p);
    const auto wt = pos_weight.narrow(0, start, p);
    const auto z_target = z.gather(1, tgt);
    const auto max_result = z.max(1, /*keepdim=*/true);
    const auto& z_max = std::get<0>(max_result);
    const auto& arg_max = std::get<1>(max_result);
    // z becomes exp(z - max) in place; log-sum-exp = max + log(sum).
    z.sub_(z_max).exp_();
    const auto sum = z.sum(1, /*keepdim=*/true);
    loss.add_((wt * (z_max + sum.log() - z_target)).sum());
    if (!need_grad) continue;
    // z becomes the gradient of the logits: w * softmax - w at the target, plus L2Wrap's term.
    z.mul_(wt / sum);
    z.scatter_add_(1, tgt, -wt);
    z.scatter_add_(1, arg_max, z_max * l2_factor);
    if (upcast) logits.copy_(z);
    const auto& g = upcast ? logits : z;
    if (grad_h) {
      auto grad_chunk = grad_hidden.narrow(0, start, p);
      at::mm_out(grad_chunk, g, w);
    }
    if (grad_w) {
      if (upcast) {
        at::mm_out(weight_part, g.t(), h_chunk);
        grad_weight.add_(weight_part);
      } else {
        grad_weight.addmm_(g.t(), h_chunk);
      }
    }
  }
  ChunkedResult r;
  r.loss = loss;
  if (grad_h) r.grad_hidden = grad_hidden.view({B, T, C});
  if (grad_w) r.grad_weight = grad_weight.to(weight.scalar_type());
  return r;
}

class ChunkedLossFunction : public torch::autograd::Function<ChunkedLossFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& labels, int64_t chunk, bool grad_h,
                               bool grad_w) {
    auto r = chunked_loss_and_grads(hidden, weight, labels, chunk, grad_h, grad_w);
    ctx->saved_data["grad_hidden"] = r.grad_hidden;
    ctx->saved_data["grad_weight"] = r.grad_weight;
    return r.loss;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    // The gradients were formed for an incoming gradient of 1; the loss is linear in it (L2Wrap's
    // term included), so scaling is exact. Out of place, so a retained graph can run backward again.
    const auto& g = grads[0];
    auto scaled = [&](const char* key) {
      const auto t = ctx->saved_data[key];
      return t.isTensor() && t.toTensor().defined() ? t.toTensor() * g : torch::Tensor();
    };
    return {scaled("grad_hidden"), scaled("grad_weight"), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor chunked_training_loss(const torch::Tensor& hidden, const torch::Tensor& head_weight,
                                    const torch::Tensor& labels, int64_t chunk_positions) {
  VRWKV_CHECK(hidden.dim() == 3, "chunked_training_loss: hidden must be [B, T, C], got ", hidden.sizes());
  VRWKV_CHECK(head_weight.dim() == 2 && head_weight.size(1) == hidden.size(2),
              "chunked_training_loss: head weight ", head_weight.sizes(), " does not fit hidden ", hidden.sizes());
  VRWKV_CHECK(labels.dim() == 2 && labels.size(0) == hidden.size(0) && labels.size(1) == hidden.size(1),
              "chunked_training_loss: labels ", labels.sizes(), " do not fit hidden ", hidden.sizes());
  VRWKV_CHECK(head_weight.scalar_type() == hidden.scalar_type(), "chunked_training_loss: hidden is ",
              hidden.scalar_type(), " but the head weight is ", head_weight.scalar_type());
  VRWKV_CHECK(head_weight.device() == hidden.device(), "chunked_training_loss: hidden is on ", hidden.device(),
              " but the head weight on ", head_weight.device());
  VRWKV_CHECK(chunk_positions >= 0, "chunked_training_loss: chunk_positions must be >= 0, got ", chunk_positions);
  const bool grad_mode = torch::GradMode::is_enabled();
  const bool grad_h = grad_mode && hidden.requires_grad();
  const bool grad_w = grad_mode && head_weight.requires_grad();
  if (!grad_h && !grad_w) {
    torch::NoGradGuard no_grad;
    return chunked_loss_and_grads(hidden, head_weight, labels, chunk_positions, false, false).loss;
  }
  return ChunkedLossFunction::apply(hidden, head_weight, labels, chunk_positions, grad_h, grad_w);
}

}  // namespace vrwkv
