#include "train/train_step.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "dist/zero.h"
#include "model/loss.h"
#include "train/fault_injection.h"

namespace vrwkv::train {
namespace {

// One host read for the whole norm; the gradients are GradientSync's float32 sums.
double global_grad_norm(const std::vector<torch::Tensor>& grads) {
  std::vector<torch::Tensor> squares;
  for (const auto& g : grads) squares.push_back(g.norm().square());
  return squares.empty() ? 0.0 : torch::stack(squares).sum().sqrt().item<double>();
}

}  // namespace

StepRunner::StepRunner(const RunConfig& config, TrainModel model, io::NamedTensors trained, std::vector<int> owners,
                       AdamW& optimizer, std::shared_ptr<dist::Communicator> comm, torch::Device device)
    : config_(config), model_(std::move(model)), trained_(std::move(trained)), owners_(std::move(owners)),
      optimizer_(optimizer), comm_(comm), device_(device),
      sync_(comm, trained_, static_cast<size_t>(config.train.bucket_mb) << 20),
      schedule_{config.optim.lr_init, config.optim.lr_final, config.optim.warmup_steps, config.train.steps} {
  for (size_t i = 0; i < trained_.size(); ++i)
    if (owners_[i] == comm_->rank()) owned_grads_.push_back(sync_.gradients()[i]);
}

StepOutcome StepRunner::run(BatchSource& batches, int64_t step, int64_t first_sample, bool stop_here) {
  const int64_t accum = config_.train.grad_accumulation;
  sync_.begin_step();
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  int64_t tokens = 0, samples = 0, nonempty = 0;
  std::vector<std::pair<int64_t, torch::Tensor>> micro_losses;  // read only when the step is not finite
  const bool plant = plant_nan(step + 1, comm_->rank());
  for (int64_t micro = 0; micro < accum; ++micro) {
    const auto batch = batches.next();
    if (micro == accum - 1) sync_.arm();
    if (batch.input_ids.size(0) == 0) continue;  // all its samples were bad: it adds nothing
    // SPEC section 6 per micro batch; the head's product happens inside the loss, chunk by chunk,
    // so the [B, T, V] logits never exist.
    const auto f = model_.forward(batch, config_, device_);
    auto loss = chunked_training_loss(f.hidden, model_.head_weight(), f.labels);
    if (plant) loss = loss * std::nan("");  // test seam (fault_injection.h): NaN loss and gradients
    (loss / double(accum)).backward();
    sync_.after_backward();
    loss_sum += loss.detach();  // summed on the device: no host sync per micro batch
    micro_losses.emplace_back(micro, loss.detach());
    tokens += f.hidden.size(0) * f.hidden.size(1);
    samples += f.hidden.size(0);
    ++nonempty;
  }
  sync_.finish();  // the sum over all micro batches / (accum x world size)
  // One small all-reduce carries the statistics and whether any rank was asked to stop.
  const auto s = comm_->all_reduce_sum(
      {loss_sum.item<double>(), double(nonempty), double(tokens), double(samples), stop_here ? 1.0 : 0.0});
  // The step's gradient is the mean over the global batch's non-empty micro batches: a function
  // of the global batch alone, however it is split into ranks x accumulation.
  const double total = double(accum * comm_->world_size());
  if (s[1] > 0 && s[1] < total) {
    torch::NoGradGuard no_grad;
    for (const auto& g : sync_.gradients()) g.mul_(total / s[1]);
  }
  const double grad_norm = global_grad_norm(sync_.gradients());
  // The guard: every rank sees the same all-reduced loss and gradients, so every rank skips the
  // same steps. A skipped step changes no weight and no optimizer state (AdamW's step count included).
  const bool finite = std::isfinite(s[0]) && std::isfinite(grad_norm);
  const double lr = schedule_.at(step);
  if (finite) {
    if (config_.optim.grad_clip > 0 && grad_norm > config_.optim.grad_clip) {
      torch::NoGradGuard no_grad;
      for (const auto& g : sync_.gradients()) g.mul_(config_.optim.grad_clip / (grad_norm + 1e-6));
    }
    optimizer_.step(lr, owned_grads_);
    if (config_.train.zero_stage == 1) dist::broadcast_from_owners(*comm_, trained_, owners_);
  } else {
    // Each rank names its own micro batches whose loss was not finite (the samples' positions in
    // the global order: BatchSourceSpec's layout), the trainer the step.
    const int64_t micro = config_.train.micro_batch_size;
    const int64_t first = first_sample + comm_->rank() * accum * micro;
    for (const auto& [m, value] : micro_losses) {
      const double v = value.item<double>();
      if (!std::isfinite(v))
        spdlog::warn("rank {}: step {}: micro batch {} (samples at global positions {}..{}) has loss {}", comm_->rank(),
                     step + 1, m, first + m * micro, first + (m + 1) * micro - 1, v);
    }
  }
  StepOutcome out;
  out.stats = {step + 1, s[1] > 0 ? s[0] / s[1] : 0.0, lr, grad_norm, int64_t(s[2]), int64_t(s[3]), {}};
  out.stats.not_finite = !finite;
  out.stop = s[4] > 0;
  return out;
}

}  // namespace vrwkv::train
