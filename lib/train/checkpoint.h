// Checkpoints of a run, atomic and self-contained:
//   <output_dir>/checkpoints/step_00000042/
//       model.safetensors            the weights the run may change, and frozen ones of random init
//       frozen.json                  the frozen weights a file supplied unchanged (RWKV, CLIP, init
//                                    checkpoint), by reference: file, name, dtype, shape, file size
//                                    and hash (a stage-1 checkpoint of 1B6 stores the 2M projector
//                                    parameters, not 7.6 GB); checkpoint.frozen=copy stores them too
//       optimizer.rank<R>.safetensors  AdamW state by parameter name (under ZeRO-1 one file per rank
//                                    with the tensors it owns, else rank 0's with all): any world
//                                    size reads them all and keeps what it owns
//       rng.safetensors              the random generator state
//       trainer.json                 step, samples consumed (the cursor), global batch, skip
//                                    counts of the whole run, resolved config
// Everything is written into step_00000042.tmp/ and the folder is renamed when complete, so a
// crash or kill at any moment leaves the previous checkpoints intact; *.tmp folders are garbage.
// Checkpoints of an abandoned lineage are moved to checkpoints/set_aside/.
// Whatever reads a checkpoint's weights goes through load_checkpoint_weights(), which resolves the
// references and refuses a source file that changed; `export` writes complete files.
#pragma once
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "io/named_tensors.h"

namespace vrwkv::train {

// Where a weight came from when a file supplied it unchanged at set-up.
struct TensorSource {
  std::string file;                          // absolute path
  std::string key;                           // its name in that file
  torch::ScalarType dtype = torch::kFloat32; // as stored there: the hash covers these bytes
  std::vector<int64_t> shape;
  uint64_t file_bytes = 0;                   // the file's size when it was read
  uint64_t hash = 0;                         // io::tensor_hash of the tensor as stored
};
using TensorSources = std::map<std::string, TensorSource>;  // by model name

// The record of `value`, read as `key` from `file`; hashes it (once per run, at set-up).
TensorSource tensor_source(const std::string& file, const std::string& key, const torch::Tensor& value);

// A frozen weight a checkpoint refers to instead of storing it: one entry of frozen.json.
struct FrozenReference {
  std::string name;                          // in the model
  int64_t index = 0;                         // its position among all the model's weights
  torch::ScalarType dtype = torch::kFloat32; // what the model held (bf16 runs): the source is converted to it
  TensorSource source;
};

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
  io::NamedTensors weights;           // rank 0's model weights (on the CPU) but those in `frozen`
  std::vector<FrozenReference> frozen;  // rank 0's references (frozen.json)
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

// The newest complete checkpoint under output_dir, or "" when there is none.
std::string find_latest_checkpoint(const std::string& output_dir);
// `path` may be a checkpoint folder or a run's output_dir (then its newest checkpoint).
std::string resolve_checkpoint(const std::string& path);
nlohmann::json read_checkpoint_json(const std::string& checkpoint_dir, const std::string& file);

}  // namespace vrwkv::train
