// Checkpoints of a run, atomic and self-contained:
//   <output_dir>/checkpoints/step_00000042/
//       model.safetensors            every weight of the model (what `export` and `--resume` read)
//       optimizer.rank<R>.safetensors  AdamW state (one file per rank under ZeRO-1, else rank 0's)
//       rng.safetensors              the random generator state
//       trainer.json                 step, every rank's sampler cursor, skip counts, resolved config
// Everything is written into step_00000042.tmp/ and the folder is renamed when complete, so a
// crash or kill at any moment leaves the previous checkpoints intact; *.tmp folders are garbage.
// The multi-rank choreography (who writes what, barriers) is the trainer's; this is file work only.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "io/named_tensors.h"

namespace vrwkv::train {

std::string checkpoint_root(const std::string& output_dir);
std::string checkpoint_name(int64_t step);

// Creates (empty) the temporary folder of the checkpoint for `step` and returns its path.
std::string begin_checkpoint(const std::string& output_dir, int64_t step);
// Writes one file into a temporary checkpoint folder (atomically, fsync'd).
void write_checkpoint_tensors(const std::string& tmp_dir, const std::string& file, const io::NamedTensors& tensors);
void write_checkpoint_json(const std::string& tmp_dir, const std::string& file, const nlohmann::json& value);
// Makes the checkpoint complete (fsync + rename) and returns its final path.
std::string commit_checkpoint(const std::string& tmp_dir);
// Deletes all but the newest `keep_last` complete checkpoints, and every leftover *.tmp folder.
void prune_checkpoints(const std::string& output_dir, int64_t keep_last);

// The newest complete checkpoint under output_dir, or "" when there is none.
std::string find_latest_checkpoint(const std::string& output_dir);
// `path` may be a checkpoint folder or a run's output_dir (then its newest checkpoint).
std::string resolve_checkpoint(const std::string& path);
nlohmann::json read_checkpoint_json(const std::string& checkpoint_dir, const std::string& file);

}  // namespace vrwkv::train
