// One optimizer step: this rank's micro batches (forward, backward into GradientSync's float32
// sums, the bucketed all-reduce overlapping the last backward), one small all-reduce of the step's
// statistics, the gradient as the mean over the global batch's non-empty micro batches, clipping,
// AdamW on the owned tensors, ZeRO-1's broadcast.
#pragma once
#include <memory>
#include <vector>

#include "config/run_config.h"
#include "dist/communicator.h"
#include "dist/grad_sync.h"
#include "train/adamw.h"
#include "train/batch_source.h"
#include "train/progress.h"
#include "train/schedule.h"
#include "train/train_model.h"

namespace vrwkv::train {

struct StepOutcome {
  StepStats stats;    // all ranks' (skips left for the caller)
  bool stop = false;  // some rank was asked to stop
};

class StepRunner {
 public:
  // `owners`: each trained tensor's optimizer rank (all this rank's without ZeRO-1).
  StepRunner(const RunConfig& config, TrainModel model, io::NamedTensors trained, std::vector<int> owners,
             AdamW& optimizer, std::shared_ptr<dist::Communicator> comm, torch::Device device);

  // Optimizer step `step` (0-based), whose global batch starts at position `first_sample` of the
  // global order; stop_here: this rank wants to stop after it. A step whose loss or gradient norm is
  // not finite on any rank updates nothing, on every rank (stats.not_finite).
  StepOutcome run(BatchSource& batches, int64_t step, int64_t first_sample, bool stop_here);

 private:
  const RunConfig& config_;
  TrainModel model_;
  io::NamedTensors trained_;
  std::vector<int> owners_;
  AdamW& optimizer_;
  std::shared_ptr<dist::Communicator> comm_;
  torch::Device device_;
  dist::GradientSync sync_;
  std::vector<torch::Tensor> owned_grads_;  // the optimizer's share of sync_.gradients()
  LrSchedule schedule_;
};

}  // namespace vrwkv::train
