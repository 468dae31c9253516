// Building the model for a run: weights from the configured sources (RWKV file, CLIP file or folder,
// VisualRWKV checkpoint, else random), the precision, and which tensors are trained.
#pragma once
#include <torch/torch.h>

#include "config/run_config.h"
#include "io/named_tensors.h"
#include "model/visual_rwkv.h"

namespace vrwkv::train {

// Loads init.rwkv, init.vision and init.checkpoint in that order over the random initialisation;
// every file must supply its component completely (a missing key is an error naming it).
void load_initial_weights(VisualRWKV& model, const InitConfig& init);

// Sets requires_grad from the stage and the freeze knobs; returns the trained tensors in model order.
io::NamedTensors apply_freezing(VisualRWKV& model, const TrainConfig& train);

// The device a run uses: train.device, with "auto" meaning the local GPU (LOCAL_RANK) when CUDA is available.
torch::Device choose_device(const std::string& setting, int local_rank);

}  // namespace vrwkv::train
