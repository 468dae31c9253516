// Checkpoints of a run, atomic and self-contained:
//   <output_dir>/checkpoints/step_00000042/
//       model.safetensors            every weight of the model (what `export` and `--resume` read)
//       optimizer.rank<R>.safetensors  AdamW state by parameter name (under ZeRO-1 one file per rank
//                                    with the tensors it owns, else rank 0's with all): any world
//                                    size reads them all and keeps what it owns
//       rng.safetensors              the random generator state
//       trainer.json                 step, samples consumed (the cursor), global batch, skip
//                                    counts of the whole run, resolved config
// Everything is written into step_00000042.tmp/ and the folder is renamed when complete, so a
// crash or kill at any moment leaves the previous checkpoints intact; *.tmp folders are garbage.
// Checkpoints of an abandoned lineage are moved to checkpoints/set_aside/.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "io/named_tensors.h"

namespace vrwkv::train {

std::string checkpoint_root(const std::string& output_dir);
std::string checkpoint_name(int64_t step);

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
  io::NamedTensors weights;           // rank 0's model weights (on the CPU)
  io::NamedTensors rng;               // rank 0's generator states
  io::NamedTensors optimizer;         // this rank's optimizer state
  bool writes_optimizer = false;      // this rank writes optimizer.rank<R>.safetensors
};

// The multi-rank checkpoint sequence, every rank calling it: rank 0 opens the temporary folder,
// every optimizer-owning rank writes its file, rank 0 writes the rest, commits and prunes to
// keep_last. Returns the checkpoint's path (on every rank).
std::string save_checkpoint(dist::Communicator& comm, const std::string& output_dir, int64_t keep_last,
                            CheckpointContents contents);

// The optimizer state in a checkpoint, from every optimizer.rank*.safetensors file, keeping only
// the entries `wanted` accepts (a ZeRO-1 rank reads what it owns, whatever the world size that wrote them).
io::NamedTensors load_optimizer_state(const std::string& checkpoint_dir,
                                      const std::function<bool(const std::string&)>& wanted);

// The newest complete checkpoint under output_dir, or "" when there is none.
std::string find_latest_checkpoint(const std::string& output_dir);
// `path` may be a checkpoint folder or a run's output_dir (then its newest checkpoint).
std::string resolve_checkpoint(const std::string& path);
nlohmann::json read_checkpoint_json(const std::string& checkpoint_dir, const std::string& file);

}  // namespace vrwkv::train
