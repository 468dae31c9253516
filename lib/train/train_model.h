// The model a run trains, of either family (model.family): VisualRWKV (v6) or VisualRWKV-7. The
// trainer, validation and checkpoints see only what this offers: the module (names, parameters,
// device, dtype), the ln_out states of a micro batch with the labels they predict, the head that
// chunked_training_loss applies, and the FLOPs per token for MFU. Everything else that differs
// between the families (weights files, freezing) is in model_setup.
#pragma once
#include <torch/torch.h>

#include "config/run_config.h"
#include "model/visual_rwkv.h"
#include "model/visual_rwkv7.h"
#include "train/batch_source.h"

namespace vrwkv::train {

class TrainModel {
 public:
  TrainModel() = default;
  explicit TrainModel(VisualRWKV model) : v6_(std::move(model)) {}
  explicit TrainModel(VisualRWKV7 model) : v7_(std::move(model)) {}
  // A randomly initialised model of the config's family and sizes.
  static TrainModel from_config(const RunConfig& config);

  ModelFamily family() const { return v7_ ? ModelFamily::kV7 : ModelFamily::kV6; }
  torch::nn::Module& module() const;

  // One micro batch through the model: hidden [B, T, C] after ln_out and the labels [B, T] that
  // chunked_training_loss / per_sample_loss read with it (v6: those of the assembled sequence).
  struct Forward {
    torch::Tensor hidden, labels;
  };
  Forward forward(const Batch& batch, const RunConfig& config, torch::Device device) const;
  const torch::Tensor& head_weight() const;
  // Training FLOPs per sequence position (progress.h).
  double flops_per_token(int64_t ctx_len) const;

  // The family's own model; throws vrwkv::Error when it is the other family.
  const VisualRWKV& v6() const;
  const VisualRWKV7& v7() const;

 private:
  VisualRWKV v6_{nullptr};
  VisualRWKV7 v7_{nullptr};
};

}  // namespace vrwkv::train
