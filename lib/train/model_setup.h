// Building the model for a run: weights from the configured sources (RWKV file, CLIP file or folder,
// VisualRWKV checkpoint, else random), the precision, and which tensors are trained.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <set>
#include <vector>

#include "config/run_config.h"
#include "dist/communicator.h"
#include "io/named_tensors.h"
#include "model/visual_rwkv.h"
#include "model/visual_rwkv7.h"
#include "train/adamw.h"
#include "train/frozen_references.h"
#include "train/train_model.h"

namespace vrwkv::train {

// Loads init.rwkv, init.vision and init.checkpoint in that order over the random initialisation;
// every file must supply its component completely (a missing key is an error naming it). Returns
// the origin (file, key, size, hash) of each tensor named in `track` that a file supplied, the
// last one to supply it; only those are hashed.
TensorSources load_initial_weights(VisualRWKV& model, const InitConfig& init, const std::set<std::string>& track = {});
// v7: init.rwkv an RWKV-7 file, init.vision the folder holding the three tower files
// (train/vision_tower_files7.h), init.checkpoint as for v6.
TensorSources load_initial_weights(VisualRWKV7& model, const InitConfig& init, const std::set<std::string>& track = {});

// Sets requires_grad from the stage and the freeze knobs; returns the trained tensors in model order.
io::NamedTensors apply_freezing(VisualRWKV& model, const TrainConfig& train);
// v7: the same knobs; the towers stay frozen, as the original's, unless train.train_vision.
io::NamedTensors apply_freezing(VisualRWKV7& model, const TrainConfig& train);

// The device a run uses: train.device, auto meaning the local GPU (LOCAL_RANK) when CUDA is available.
torch::Device choose_device(DeviceSetting setting, int local_rank);

// A run's model and optimizer, ready for its first step.
struct RunModel {
  TrainModel model;
  io::NamedTensors trained;               // in model order
  TensorSources frozen_sources;           // frozen tensors a file supplied unchanged, by model name
  std::vector<int> owners;                // each trained tensor's optimizer rank (ZeRO-1), else this rank
  std::unique_ptr<AdamW> optimizer;       // over this rank's owned tensors
};

// The model from the initial weights or the checkpoint `resume_dir` (""), frozen per stage, on
// `device` with every rank holding rank 0's weights; the optimizer (float32 masters made before
// a bf16 cast) over the tensors this rank owns, its state read from the checkpoint whatever world
// size wrote it; the random generator restored.
RunModel prepare_model(const RunConfig& config, torch::Device device, dist::Communicator& comm,
                       const std::string& resume_dir);

}  // namespace vrwkv::train
