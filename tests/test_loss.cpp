// chunked_training_loss against training_loss on full logits (SPEC section 6): float64 random
// inputs and bf16 (the model fixture through forward_hidden is in test_model_parity.cpp).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "catch_compat.h"
#include "model/loss.h"
#include "model/sequence.h"
#include "tensor_compare.h"

namespace {

using vrwkv::kIgnoreLabel;
using vrwkv::test::relative_error;

constexpr double kTight = 1e-12;  // float64: only the summation order differs

struct Inputs {
  torch::Tensor hidden, weight, labels;
};

// Random [B, T, C] hidden states, a [V, C] head and labels with ignored entries; sample 1 has no
// valid label at all (its loss and cross-entropy gradient are zero, its L2Wrap term is not).
Inputs random_inputs(int64_t B, int64_t T, int64_t C, int64_t V, torch::ScalarType type) {
  torch::manual_seed(7);
  Inputs in;
  in.hidden = torch::randn({B, T, C}, torch::kFloat64).to(type).requires_grad_();
  in.weight = (torch::randn({V, C}, torch::kFloat64) * 2).to(type).requires_grad_();
  in.labels = torch::randint(0, V, {B, T}, torch::kInt64);
  in.labels.masked_fill_(torch::rand({B, T}) < 0.3, kIgnoreLabel);
  if (T > 1) in.labels.index_put_({0, 1}, kIgnoreLabel);
  if (B > 1) in.labels.index_put_({1}, kIgnoreLabel);
  return in;
}

struct LossAndGrads {
  torch::Tensor loss, grad_hidden, grad_weight;
};

// Value and gradients of `loss_of` (backpropagated with `scale` as the incoming gradient).
template <typename F>
LossAndGrads evaluate(const Inputs& in, F loss_of, double scale = 1.0) {
  const auto loss = loss_of(in.hidden, in.weight, in.labels);
  std::vector<torch::Tensor> wrt;
  if (in.hidden.requires_grad()) wrt.push_back(in.hidden);
  if (in.weight.requires_grad()) wrt.push_back(in.weight);
  const auto grads = torch::autograd::grad({loss * scale}, wrt);
  LossAndGrads r{loss.detach(), {}, {}};
  size_t i = 0;
  if (in.hidden.requires_grad()) r.grad_hidden = grads[i++];
  if (in.weight.requires_grad()) r.grad_weight = grads[i++];
  return r;
}

torch::Tensor reference(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& labels) {
  return vrwkv::training_loss(h.matmul(w.t()), labels);
}

auto chunked(int64_t chunk) {
  return [chunk](const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& labels) {
    return vrwkv::chunked_training_loss(h, w, labels, chunk);
  };
}

}  // namespace

TEST_CASE("chunked_training_loss equals training_loss in float64 for every chunk size", "[model]") {
  const int64_t B = 3, T = 7, C = 5, V = 11;  // 21 positions
  const auto in = random_inputs(B, T, C, V, torch::kFloat64);
  const auto ref = evaluate(in, reference);
  // Without L2Wrap the gradients differ by far more than the tolerance: the tests below see it.
  const auto no_l2 = evaluate(in, [](const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& labels) {
    return vrwkv::next_token_loss(h.matmul(w.t()), labels);
  });
  REQUIRE(relative_error(no_l2.grad_hidden, ref.grad_hidden) > 1e3 * kTight);
  REQUIRE(relative_error(no_l2.grad_weight, ref.grad_weight) > 1e3 * kTight);

  for (const int64_t chunk : {int64_t{1}, int64_t{4}, B * T, int64_t{100}, int64_t{0}}) {
    INFO("chunk_positions " << chunk);
    const auto got = evaluate(in, chunked(chunk));
    CHECK(got.loss.scalar_type() == torch::kFloat64);
    CHECK(got.loss.dim() == 0);
    CHECK(std::abs(got.loss.item<double>() - ref.loss.item<double>()) <= kTight * std::abs(ref.loss.item<double>()));
    CHECK(relative_error(got.grad_hidden, ref.grad_hidden) < kTight);
    CHECK(relative_error(got.grad_weight, ref.grad_weight) < kTight);
    CHECK(got.grad_hidden.sizes() == in.hidden.sizes());
    CHECK(got.grad_weight.sizes() == in.weight.sizes());
  }
}

TEST_CASE("chunked_training_loss scales its gradients, L2Wrap included, by the incoming gradient", "[model]") {
  const auto in = random_inputs(2, 9, 4, 13, torch::kFloat64);
  const auto ref = evaluate(in, reference);
  // Gradient accumulation backpropagates loss / steps: a quarter of everything.
  const auto got = evaluate(in, chunked(5), 0.25);
  CHECK(relative_error(got.grad_hidden, ref.grad_hidden * 0.25) < kTight);
  CHECK(relative_error(got.grad_weight, ref.grad_weight * 0.25) < kTight);
  // The same through backward() into .grad, accumulated over two calls.
  for (int i = 0; i < 2; ++i) (vrwkv::chunked_training_loss(in.hidden, in.weight, in.labels, 5) / 4).backward();
  CHECK(relative_error(in.hidden.grad(), ref.grad_hidden * 0.5) < kTight);
  CHECK(relative_error(in.weight.grad(), ref.grad_weight * 0.5) < kTight);
}

TEST_CASE("chunked_training_loss with a frozen head or frozen hidden states, and without grad", "[model]") {
  auto in = random_inputs(3, 6, 4, 10, torch::kFloat64);
  const auto ref = evaluate(in, reference);

  SECTION("frozen head: the hidden gradient only") {
    in.weight.requires_grad_(false);
    const auto loss = vrwkv::chunked_training_loss(in.hidden, in.weight, in.labels, 4);
    CHECK(loss.requires_grad());
    loss.backward();
    CHECK(!in.weight.grad().defined());
    CHECK(relative_error(in.hidden.grad(), ref.grad_hidden) < kTight);
  }
  SECTION("frozen hidden states: the head gradient only") {
    const auto hidden = in.hidden.detach();
    const auto loss = vrwkv::chunked_training_loss(hidden, in.weight, in.labels, 4);
    loss.backward();
    CHECK(relative_error(in.weight.grad(), ref.grad_weight) < kTight);
  }
  SECTION("no grad mode: the loss, with no graph") {
    torch::NoGradGuard no_grad;
    const auto loss = vrwkv::chunked_training_loss(in.hidden, in.weight, in.labels, 4);
    CHECK(!loss.requires_grad());
    CHECK(std::abs(loss.item<double>() - ref.loss.item<double>()) <= kTight * std::abs(ref.loss.item<double>()));
  }
  SECTION("nothing requires grad") {
    const auto loss = vrwkv::chunked_training_loss(in.hidden.detach(), in.weight.detach(), in.labels, 0);
    CHECK(!loss.requires_grad());
    CHECK(std::abs(loss.item<double>() - ref.loss.item<double>()) <= kTight * std::abs(ref.loss.item<double>()));
  }
}

TEST_CASE("chunked_training_loss handles one position per sample and rejects bad shapes", "[model]") {
  // T = 1: no position has a target; the loss is 0 and only L2Wrap's gradient remains.
  const auto in = random_inputs(2, 1, 3, 6, torch::kFloat64);
  const auto ref = evaluate(in, reference);
  const auto got = evaluate(in, chunked(0));
  CHECK(got.loss.item<double>() == 0.0);
  CHECK(relative_error(got.grad_hidden, ref.grad_hidden) < kTight);
  CHECK(relative_error(got.grad_weight, ref.grad_weight) < kTight);

  CHECK_THROWS_WITH(vrwkv::chunked_training_loss(in.hidden, in.weight.t(), in.labels),
                    vrwkv::test::contains("does not fit hidden"));
  CHECK_THROWS_WITH(vrwkv::chunked_training_loss(in.hidden, in.weight.to(torch::kFloat32), in.labels),
                    vrwkv::test::contains("head weight is Float"));
  CHECK_THROWS_WITH(vrwkv::chunked_training_loss(in.hidden, in.weight, in.labels.view({1, 2})),
                    vrwkv::test::contains("labels [1, 2]"));
}

TEST_CASE("automatic chunk size keeps the chunk buffers within the budget", "[model]") {
  const int64_t cpu = vrwkv::auto_chunk_positions(torch::kCPU, torch::kFloat32, 65536);
  CHECK(cpu >= 1);
  CHECK(cpu * 65536 * 4 <= (int64_t{32} << 20) / 2);  // well under glibc's mmap threshold
  const int64_t cuda = vrwkv::auto_chunk_positions(torch::Device(torch::kCUDA, 0), torch::kBFloat16, 65536);
  CHECK(cuda > cpu);
  CHECK(cuda * 65536 * 6 <= (int64_t{256} << 20));
  CHECK(vrwkv::auto_chunk_positions(torch::kCPU, torch::kFloat32, 1 << 30) == 1);
}

TEST_CASE("chunked_training_loss in bf16 agrees with bf16 logits and sums the head gradient in float32", "[model]") {
  const int64_t B = 2, T = 64, C = 32, V = 1000;
  const auto in = random_inputs(B, T, C, V, torch::kBFloat16);
  // The unchunked path, keeping the bf16 logits' gradient for the head-gradient check below.
  const auto logits = in.hidden.matmul(in.weight.t());
  const auto ref_loss = vrwkv::training_loss(logits, in.labels);
  const auto ref_grads = torch::autograd::grad({ref_loss}, {in.hidden, in.weight, logits});
  CHECK(ref_loss.scalar_type() == torch::kFloat32);

  for (const int64_t chunk : {int64_t{1}, int64_t{48}, int64_t{0}}) {
    INFO("chunk_positions " << chunk);
    const auto got = evaluate(in, chunked(chunk));
    CHECK(got.loss.scalar_type() == torch::kFloat32);
    CHECK(got.grad_hidden.scalar_type() == torch::kBFloat16);
    CHECK(got.grad_weight.scalar_type() == torch::kBFloat16);
    CHECK(std::abs(got.loss.item<double>() - ref_loss.item<double>()) <= 1e-2 * std::abs(ref_loss.item<double>()));
    CHECK(relative_error(got.grad_hidden, ref_grads[0]) < 2e-2);
    CHECK(relative_error(got.grad_weight, ref_grads[1]) < 2e-2);
  }

}

TEST_CASE("chunked_training_loss sums the bf16 head gradient over chunks in float32", "[model]") {
  // Positive hidden states and one target everywhere: every entry of the head gradient is a sum of
  // 256 terms of one sign, which a bf16 running sum gets visibly wrong.
  const int64_t B = 2, T = 128, C = 8, V = 64, N = B * T;
  torch::manual_seed(3);
  Inputs in;
  in.hidden = (torch::rand({B, T, C}) + 0.5).to(torch::kBFloat16).requires_grad_();
  in.weight = (torch::randn({V, C}) * 0.1).to(torch::kBFloat16).requires_grad_();
  in.labels = torch::full({B, T}, 5, torch::kInt64);
  const auto logits = in.hidden.matmul(in.weight.t());
  const auto g = torch::autograd::grad({vrwkv::training_loss(logits, in.labels)}, {logits})[0].reshape({N, V});
  const auto h = in.hidden.detach().reshape({N, C});
  // One position per chunk: the head gradient is the sum of N bf16 products.
  auto sum32 = torch::zeros({V, C}, torch::kFloat32);
  auto sum16 = torch::zeros({V, C}, torch::kBFloat16);
  for (int64_t n = 0; n < N; ++n) {
    const auto part = g.narrow(0, n, 1).t().mm(h.narrow(0, n, 1));
    sum32 += part.to(torch::kFloat32);
    sum16 += part;
  }
  const auto got = evaluate(in, chunked(1));
  const double err_got = relative_error(got.grad_weight, sum32);
  const double err_bf16_sum = relative_error(sum16, sum32);
  INFO("head gradient vs float32 sum: " << err_got << ", a bf16 running sum: " << err_bf16_sum);
  CHECK(err_got < 4e-3);  // the rounding of the per-position products and of the result to bf16
  CHECK(err_bf16_sum > 3 * err_got);
}

TEST_CASE("per_sample_loss: each sample's next_token_loss, chunk by chunk through the head (float64)", "[model]") {
  const int64_t B = 3, T = 9, C = 6, V = 40;
  const auto in = random_inputs(B, T, C, V, torch::kFloat64);  // sample 1 has no target
  for (int64_t chunk : {1, 4, 0}) {
    INFO("chunk positions " << chunk);
    const auto got = vrwkv::per_sample_loss(in.hidden.detach(), in.weight.detach(), in.labels, chunk);
    REQUIRE(got.loss.sizes() == torch::IntArrayRef{B});
    CHECK(got.loss.scalar_type() == torch::kFloat64);
    for (int64_t b = 0; b < B; ++b) {
      const auto h = in.hidden.detach().narrow(0, b, 1), y = in.labels.narrow(0, b, 1);
      const double want = vrwkv::next_token_loss(h.matmul(in.weight.detach().t()), y).item<double>();
      CHECK(std::abs(got.loss[b].item<double>() - want) <= kTight * std::max(1.0, std::abs(want)));
      CHECK(got.targets[b].item<int64_t>() == (y.narrow(1, 1, T - 1) != kIgnoreLabel).sum().item<int64_t>());
    }
    CHECK(got.targets[1].item<int64_t>() == 0);
    CHECK(got.loss[1].item<double>() == 0.0);
    CHECK(got.loss[0].item<double>() > 0.0);
  }
}
