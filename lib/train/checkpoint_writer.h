// Writing a run's checkpoints, atomically: everything goes into step_<N>.tmp/ and the folder is
// renamed when complete, so a crash or kill at any moment leaves the previous checkpoints intact;
// *.tmp folders are garbage. Checkpoints of an abandoned lineage are moved to checkpoints/set_aside/.
// The files themselves: train/checkpoint_layout.h.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "io/named_tensors.h"
#include "train/frozen_references.h"

namespace vrwkv::train {

// Creates (empty) the temporary folder of the checkpoint for `step` and returns its path.
std::string begin_checkpoint(const std::string& output_dir, int64_t step);
// Writes one file into a temporary checkpoint folder (atomically, fsync'd).
void write_checkpoint_tensors(const std::string& tmp_dir, const std::string& file, const io::NamedTensors& tensors);
void write_checkpoint_json(const std::string& tmp_dir, const std::string& file, const nlohmann::json& value);
// Makes the checkpoint complete (fsync + rename) and returns its final path. A checkpoint of the
// same step already there is swapped out atomically (renameat2 RENAME_EXCHANGE): the step folder
// is never missing.
std::string commit_checkpoint(const std::string& tmp_dir);
// Deletes all but the newest `keep_last` complete checkpoints, and every leftover *.tmp folder.
void prune_checkpoints(const std::string& output_dir, int64_t keep_last);

// Moves the complete checkpoints of steps after `step` to checkpoints/set_aside/ (renamed, never
// deleted; unfinished *.tmp folders are garbage that pruning removes); returns their new paths.
std::vector<std::string> set_aside_checkpoints_after(const std::string& output_dir, int64_t step);

// What one rank contributes to a checkpoint.
struct CheckpointContents {
  int64_t step = 0;
  nlohmann::json trainer;             // rank 0's trainer.json
  io::NamedTensors weights;           // rank 0's model weights (on the CPU) but those in `frozen`
  std::vector<FrozenReference> frozen;  // rank 0's references (frozen.json)
  io::NamedTensors rng;               // rank 0's generator states
  io::NamedTensors optimizer;         // this rank's optimizer state
  bool writes_optimizer = false;      // this rank writes its optimizer state file
};

// The multi-rank checkpoint sequence, every rank calling it: rank 0 opens the temporary folder,
// every optimizer-owning rank writes its file, rank 0 writes the rest, commits and prunes to
// keep_last. Returns the checkpoint's path (on every rank).
std::string save_checkpoint(dist::Communicator& comm, const std::string& output_dir, int64_t keep_last,
                            CheckpointContents contents);

}  // namespace vrwkv::train
