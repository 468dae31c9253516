// A run and its checkpoints: what a run's state becomes in a checkpoint (weights, frozen
// references, optimizer state, generator, trainer.json), and the same state restored from one.
// The files: train/checkpoint_layout.h; the writing: checkpoint_writer.h; the reading: checkpoint_reader.h.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>

#include "config/run_config.h"
#include "dist/communicator.h"
#include "io/named_tensors.h"
#include "model/visual_rwkv.h"
#include "train/adamw.h"
#include "train/checkpoint_writer.h"
#include "train/model_setup.h"

namespace vrwkv::train {

// What this rank writes into the checkpoint after `step` steps, `samples` consumed, with the
// whole run's skip counts `skips`.
CheckpointContents checkpoint_contents(const RunConfig& config, dist::Communicator& comm, const RunModel& run,
                                       int64_t step, int64_t samples, const nlohmann::json& skips);

// Writes that checkpoint under checkpoint.output_dir (every rank calls it) and returns its path.
std::string save_run_checkpoint(const RunConfig& config, dist::Communicator& comm, const RunModel& run, int64_t step,
                                int64_t samples, const nlohmann::json& skips);

// Loads the checkpoint's weights into `model`; returns the origins of the referenced ones among
// `frozen` (a resumed run keeps referring to the files its checkpoint referred to, checked here).
TensorSources restore_weights(torch::nn::Module& model, const std::string& checkpoint_dir,
                              const std::set<std::string>& frozen);

// The optimizer state of the tensors in `owned` (this rank's now, whatever world size wrote it).
void restore_optimizer_state(AdamW& optimizer, const io::NamedTensors& owned, const std::string& checkpoint_dir);

// The random generator as the checkpoint recorded it.
void restore_rng(const std::string& checkpoint_dir);

}  // namespace vrwkv::train
