// AdamW with float32 master weights and moments (the model itself may hold bf16 copies).
// Weight decay applies only to tensors with two or more non-unit dimensions, as the original.
// The optimizer is given the parameters it owns: all of them, or one rank's share under ZeRO-1.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "io/named_tensors.h"

namespace vrwkv::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // (name prefix, factor): a tensor whose name starts with the prefix steps with lr x factor (the
  // first matching prefix wins; others use lr). A pretrained tower fine-tuned beside freshly
  // initialised parts wants a smaller rate than they do.
  std::vector<std::pair<std::string, double>> lr_scales;
};

// True for tensors that get weight decay: two or more dimensions larger than one.
bool decays(const torch::Tensor& t);

class AdamW {
 public:
  // `params`: (name, model tensor) pairs. Master copies are made in float32 on the tensor's device.
  AdamW(const io::NamedTensors& params, AdamWOptions options);

  // One update with learning rate `lr` from the params' .grad() (any dtype; read as float32),
  // then the model tensors are refreshed from the masters.
  void step(double lr);
  // The same with the gradients given, aligned with params() (undefined: no update for that tensor);
  // the trainer passes GradientSync's float32 sums, so a bf16 model's step reads no bf16 gradient.
  void step(double lr, const std::vector<torch::Tensor>& grads);

  int64_t step_count() const { return step_count_; }
  const io::NamedTensors& params() const { return params_; }

  // m, v and master weights as "<name>.exp_avg", "<name>.exp_avg_sq", "<name>.master", plus "step".
  io::NamedTensors state() const;
  // Restores what state() returned; an absent or misshaped entry is an error naming it and `source`.
  void load_state(const io::NamedTensors& state, const std::string& source);

 private:
  io::NamedTensors params_;
  std::vector<torch::Tensor> master_, exp_avg_, exp_avg_sq_;
  std::vector<bool> decay_;
  std::vector<double> lr_scale_;
  AdamWOptions options_;
  int64_t step_count_ = 0;
};

}  // namespace vrwkv::train
