// The on-disk layout of a run's checkpoints, named here and nowhere else:
//   <output_dir>/checkpoints/step_00000042/
//       model.safetensors            the weights the run may change, and frozen ones of random init
//       frozen.json                  the frozen weights a file supplied unchanged (RWKV, CLIP, v7's
//                                    towers, init checkpoint), by reference: file, name, dtype, shape, file size
//                                    and hash (a stage-1 checkpoint of 1B6 stores the 2M projector
//                                    parameters, not 7.6 GB); checkpoint.frozen=copy stores them too
//                                    (train/frozen_references.h)
//       optimizer.rank<R>.safetensors  AdamW state by parameter name (under ZeRO-1 one file per rank
//                                    with the tensors it owns, else rank 0's with all): any world
//                                    size reads them all and keeps what it owns
//       rng.safetensors              the random generator state ("cpu")
//       trainer.json                 step, samples consumed (the cursor), global batch, world size,
//                                    skip counts of the whole run, resolved config; written last,
//                                    it marks the folder complete
//   <output_dir>/checkpoints/step_00000042.tmp/   a checkpoint being written (garbage once abandoned)
//   <output_dir>/checkpoints/set_aside/step_00000042.<unix time>/   a checkpoint of an abandoned lineage
// Writing: train/checkpoint_writer.h; reading: train/checkpoint_reader.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vrwkv::train {

namespace checkpoint_file {
inline constexpr const char* kModel = "model.safetensors";
inline constexpr const char* kFrozen = "frozen.json";
inline constexpr const char* kRng = "rng.safetensors";
inline constexpr const char* kTrainer = "trainer.json";
// The optimizer state file rank `rank` writes, and whether a file name is one of them.
std::string optimizer(int rank);
bool is_optimizer(const std::string& file_name);
// All of them, as error messages name them ("optimizer.rank<R>.safetensors"), and as a glob.
std::string optimizer_pattern();
std::string optimizer_glob();
}  // namespace checkpoint_file

// The model's components a checkpoint's weights must each supply (the RWKV, the tower, the projector).
inline const std::vector<std::string> kCheckpointComponents = {"rwkv.", "vit.", "proj."};

// The key of the CPU generator's state in rng.safetensors.
inline constexpr const char* kRngCpuKey = "cpu";

// <output_dir>/checkpoints
std::string checkpoint_root(const std::string& output_dir);
// step_00000042
std::string checkpoint_name(int64_t step);
// <output_dir>/checkpoints/step_00000042 and its temporary twin step_00000042.tmp.
std::string checkpoint_dir(const std::string& output_dir, int64_t step);
std::string temporary_checkpoint_dir(const std::string& output_dir, int64_t step);
// A temporary folder's final path ("" when `tmp_dir` does not end in .tmp).
std::string final_checkpoint_dir(const std::string& tmp_dir);
// Where commit moves an older checkpoint of the same step while it renames the new one in (only
// where the file system cannot swap them atomically); a *.tmp name, so pruning removes leftovers.
std::string displaced_checkpoint_dir(const std::string& final_dir);
// Whether a folder name under checkpoints/ is a temporary (*.tmp) one.
bool is_temporary_name(const std::string& name);
// Where a checkpoint of an abandoned lineage is moved to; `stamp` keeps repeated moves apart.
std::string set_aside_dir(const std::string& output_dir, const std::string& checkpoint_name, const std::string& stamp);

// Whether `dir` holds a complete checkpoint, whatever its name (trainer.json is written last).
bool holds_complete_checkpoint(const std::string& dir);
// The step of a checkpoint folder name (with .tmp or not), else -1.
int64_t checkpoint_step(const std::string& name);
// The complete checkpoints under output_dir (named step_*, with trainer.json), oldest first.
std::vector<std::string> complete_checkpoints(const std::string& output_dir);
// The newest complete checkpoint under output_dir, or "" when there is none.
std::string find_latest_checkpoint(const std::string& output_dir);

}  // namespace vrwkv::train
