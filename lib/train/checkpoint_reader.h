// Reading a run's checkpoints (train/checkpoint_layout.h). Whatever reads a checkpoint's weights
// goes through load_checkpoint_weights(), which resolves the frozen references and refuses a
// source file that changed; `export` writes complete files.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "io/named_tensors.h"
#include "train/frozen_references.h"

namespace vrwkv::train {

// `path` may be a checkpoint folder or a run's output_dir (then its newest checkpoint).
std::string resolve_checkpoint(const std::string& path);
nlohmann::json read_checkpoint_json(const std::string& checkpoint_dir, const std::string& file);
// The checkpoint's trainer.json: step, samples, global batch, world size, skips, resolved config.
nlohmann::json read_trainer_state(const std::string& checkpoint_dir);
// trainer.json's path, as errors about its fields name it.
std::string trainer_state_path(const std::string& checkpoint_dir);

// The optimizer state in a checkpoint, from every rank's optimizer file, keeping only the entries
// `wanted` accepts (a ZeRO-1 rank reads what it owns, whatever the world size that wrote them).
io::NamedTensors load_optimizer_state(const std::string& checkpoint_dir,
                                      const std::function<bool(const std::string&)>& wanted);
// What errors about that state name as its source.
std::string optimizer_state_source(const std::string& checkpoint_dir);

// The random generator states the checkpoint recorded (rng.safetensors).
io::NamedTensors load_rng_state(const std::string& checkpoint_dir);

// A checkpoint's weights, complete: model.safetensors, and each frozen.json reference read from
// its source file after checking the file's size and the tensor's dtype, shape and hash (a
// vrwkv::Error names the checkpoint, the tensor, the file and what differs), converted to the
// dtype the model held. In the model's order. What `export`, `generate`, `eval`, resume and
// init.checkpoint read.
io::NamedTensors load_checkpoint_weights(const std::string& checkpoint_dir);

// The same, with the origins of the referenced weights: a run resumed from it keeps referring to them.
struct CheckpointWeights {
  io::NamedTensors tensors;
  TensorSources referenced;
};
CheckpointWeights read_checkpoint_weights(const std::string& checkpoint_dir);
// The stored weights file (model.safetensors), the origin of the weights it holds.
std::string stored_weights_path(const std::string& checkpoint_dir);

}  // namespace vrwkv::train
