#include "train/validation.h"

#include <algorithm>
#include <vector>

#include "model/loss.h"

namespace vrwkv::train {

ValidationResult validation_loss(const TrainModel& model, ValidationSet& set, const RunConfig& config,
                                 dist::Communicator& comm, torch::Device device) {
  torch::NoGradGuard no_grad;
  const int64_t n = set.size(), micro = config.train.micro_batch_size;
  const int64_t skipped_before = set.skipped();
  // Slots [0, n): each sample's loss; [n, 2n): 1 where the sample counts (it has a target).
  std::vector<double> slots(static_cast<size_t>(2 * n), 0.0);
  for (int64_t j = comm.rank(); j * micro < n; j += comm.world_size()) {
    const int64_t first = j * micro;
    auto v = set.batch(first, std::min(micro, n - first));
    if (v.positions.empty()) continue;  // all its samples were bad
    const auto& b = v.batch;
    const auto f = model.forward(b, config, device);
    const auto losses = per_sample_loss(f.hidden, model.head_weight(), f.labels);
    const auto loss = losses.loss.cpu(), targets = losses.targets.cpu();
    for (size_t r = 0; r < v.positions.size(); ++r) {
      if (targets[r].item<int64_t>() == 0) continue;
      slots[v.positions[r]] = loss[r].item<double>();
      slots[n + v.positions[r]] = 1.0;
    }
  }
  slots.push_back(double(set.skipped() - skipped_before));
  const auto sum = comm.all_reduce_sum(slots);
  ValidationResult out;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += sum[i];
    out.samples += static_cast<int64_t>(sum[n + i]);
  }
  out.loss = out.samples > 0 ? total / double(out.samples) : 0.0;
  out.skipped = static_cast<int64_t>(sum[2 * n]);
  return out;
}

}  // namespace vrwkv::train
