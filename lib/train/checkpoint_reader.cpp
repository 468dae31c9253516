#include "train/checkpoint_reader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "io/tensor_file.h"
#include "train/checkpoint_layout.h"

namespace vrwkv::train {
namespace fs = std::filesystem;

std::string resolve_checkpoint(const std::string& path) {
  if (holds_complete_checkpoint(path)) return path;
  const auto latest = find_latest_checkpoint(path);
  VRWKV_CHECK(!latest.empty(), path, ": no complete checkpoint here (expected a checkpoint folder or a run's ",
              "output_dir with checkpoints/step_*)");
  return latest;
}

nlohmann::json read_checkpoint_json(const std::string& checkpoint_dir, const std::string& file) {
  const auto path = (fs::path(checkpoint_dir) / file).string();
  std::ifstream in(path);
  VRWKV_CHECK(in.good(), path, ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": ", e.what()));
  }
}

nlohmann::json read_trainer_state(const std::string& checkpoint_dir) {
  return read_checkpoint_json(checkpoint_dir, checkpoint_file::kTrainer);
}

std::string trainer_state_path(const std::string& checkpoint_dir) {
  return cat(checkpoint_dir, "/", checkpoint_file::kTrainer);
}

io::NamedTensors load_optimizer_state(const std::string& checkpoint_dir,
                                      const std::function<bool(const std::string&)>& wanted) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(checkpoint_dir))
    if (checkpoint_file::is_optimizer(e.path().filename().string())) files.push_back(e.path());
  VRWKV_CHECK(!files.empty(), checkpoint_dir, ": no ", checkpoint_file::optimizer_pattern(), " file");
  std::sort(files.begin(), files.end());
  io::NamedTensors state;
  bool have_step = false;
  for (const auto& file : files) {
    // One file at a time, keeping only what is wanted: a rank never holds the whole run's state.
    for (auto& [name, t] : io::load_tensors(file.string())) {
      if (name == "step") {
        if (!have_step) state.emplace_back(name, t);
        have_step = true;
      } else if (wanted(name)) {
        state.emplace_back(name, t);
      }
    }
  }
  return state;
}

std::string optimizer_state_source(const std::string& checkpoint_dir) {
  return cat(checkpoint_dir, "/", checkpoint_file::optimizer_glob());
}

io::NamedTensors load_rng_state(const std::string& checkpoint_dir) {
  return io::load_tensors((fs::path(checkpoint_dir) / checkpoint_file::kRng).string());
}

std::string stored_weights_path(const std::string& checkpoint_dir) {
  return (fs::path(checkpoint_dir) / checkpoint_file::kModel).string();
}

CheckpointWeights read_checkpoint_weights(const std::string& checkpoint_dir) {
  CheckpointWeights w;
  auto stored = io::load_tensors(stored_weights_path(checkpoint_dir));
  // Checkpoints from before references have no frozen.json: their model.safetensors is complete.
  const auto frozen_path = fs::path(checkpoint_dir) / checkpoint_file::kFrozen;
  if (!fs::exists(frozen_path)) {
    w.tensors = std::move(stored);
    return w;
  }
  const auto refs = parse_frozen_references(read_checkpoint_json(checkpoint_dir, checkpoint_file::kFrozen),
                                            frozen_path.string());
  const auto resolved = resolve_frozen_references(checkpoint_dir, refs);

  // The model's order: each reference at its index, the stored weights in the gaps.
  const size_t total = stored.size() + refs.size();
  std::vector<const FrozenReference*> at(total, nullptr);
  for (const auto& r : refs) {
    VRWKV_CHECK(r.index >= 0 && static_cast<size_t>(r.index) < total && !at[r.index], frozen_path.string(), ": '",
                r.name, "': index ", r.index, " is out of range or taken");
    at[r.index] = &r;
  }
  std::set<std::string> names;
  auto next = stored.begin();
  for (size_t i = 0; i < total; ++i) {
    if (at[i]) {
      w.tensors.emplace_back(at[i]->name, resolved.at(at[i]->name));
      w.referenced[at[i]->name] = at[i]->source;
    } else {
      w.tensors.push_back(std::move(*next++));
    }
    VRWKV_CHECK(names.insert(w.tensors.back().first).second, checkpoint_dir, ": weight '", w.tensors.back().first,
                "' is both stored and referenced");
  }
  return w;
}

io::NamedTensors load_checkpoint_weights(const std::string& checkpoint_dir) {
  return read_checkpoint_weights(checkpoint_dir).tensors;
}

}  // namespace vrwkv::train
