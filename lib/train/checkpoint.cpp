#include "train/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc 2.28)
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <chrono>
#include <fstream>
#include <set>

#include "base/error.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "io/tensor_hash.h"
#include "train/fault_injection.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "step_";
constexpr const char* kTmpSuffix = ".tmp";

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

constexpr const char* kSetAside = "set_aside";

// step_ and 8 digits: the step of a checkpoint folder name (with .tmp or not), else -1.
int64_t step_of(const std::string& name) {
  const size_t digits = 8, prefix = std::string(kPrefix).size();
  if (name.rfind(kPrefix, 0) != 0 || name.size() < prefix + digits) return -1;
  const std::string rest = name.substr(prefix + digits);
  if (!rest.empty() && rest != kTmpSuffix) return -1;
  for (size_t i = prefix; i < prefix + digits; ++i)
    if (name[i] < '0' || name[i] > '9') return -1;
  return std::stoll(name.substr(prefix, digits));
}

bool is_complete(const fs::directory_entry& e) {
  const auto name = e.path().filename().string();
  return e.is_directory() && step_of(name) >= 0 && name.find(kTmpSuffix) == std::string::npos &&
         fs::exists(e.path() / "trainer.json");
}

// Swaps two paths atomically; false where the file system cannot (then nothing changed).
bool exchange(const fs::path& a, const fs::path& b) {
#ifdef RENAME_EXCHANGE
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
#else
  (void)a, (void)b;
  return false;
#endif
}

std::vector<fs::path> complete_checkpoints(const std::string& output_dir) {
  std::vector<fs::path> out;
  const fs::path root = checkpoint_root(output_dir);
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (is_complete(e)) out.push_back(e.path());
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort by step
  return out;
}


constexpr const char* kFrozenFile = "frozen.json";
constexpr int kFrozenFormat = 1;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

nlohmann::json frozen_json(const std::vector<FrozenReference>& refs) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& r : refs)
    tensors.push_back({{"name", r.name},
                       {"index", r.index},
                       {"dtype", io::safetensors_dtype_name(r.dtype)},
                       {"file", r.source.file},
                       {"key", r.source.key},
                       {"file_dtype", io::safetensors_dtype_name(r.source.dtype)},
                       {"shape", r.source.shape},
                       {"file_bytes", r.source.file_bytes},
                       {"hash", io::hash_text(r.source.hash)}});
  return {{"format", kFrozenFormat}, {"hash", io::kTensorHashName}, {"tensors", tensors}};
}

std::vector<FrozenReference> parse_frozen(const nlohmann::json& j, const std::string& where) {
  std::vector<FrozenReference> refs;
  try {
    VRWKV_CHECK(j.at("format").get<int>() == kFrozenFormat, where, ": format ", j.at("format"), ", expected ",
                kFrozenFormat);
    VRWKV_CHECK(j.at("hash").get<std::string>() == io::kTensorHashName, where, ": hashes made with ", j.at("hash"),
                ", this build computes ", io::kTensorHashName);
    for (const auto& t : j.at("tensors")) {
      FrozenReference r;
      r.name = t.at("name").get<std::string>();
      const std::string at = cat(where, ": '", r.name, "'");
      r.index = t.at("index").get<int64_t>();
      r.dtype = io::safetensors_dtype(t.at("dtype").get<std::string>(), at);
      r.source.file = t.at("file").get<std::string>();
      r.source.key = t.at("key").get<std::string>();
      r.source.dtype = io::safetensors_dtype(t.at("file_dtype").get<std::string>(), at);
      r.source.shape = t.at("shape").get<std::vector<int64_t>>();
      r.source.file_bytes = t.at("file_bytes").get<uint64_t>();
      r.source.hash = io::hash_from_text(t.at("hash").get<std::string>(), at);
      refs.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(where, ": ", e.what()));
  }
  return refs;
}

// The referenced tensors of one source file, checked against their records and converted to the
// dtype the model held (through float32, the dtype the model is built in, as the run converted them).
void resolve_from_file(const std::string& checkpoint_dir, const std::string& file,
                       const std::vector<const FrozenReference*>& refs, std::map<std::string, torch::Tensor>& out) {
  // Problems of the whole file name its first tensor and how many more it supplies.
  const auto fail = [&](const FrozenReference& r, const std::string& what, bool whole_file = false) {
    const std::string others = whole_file && refs.size() > 1 ? cat(" (and ", refs.size() - 1, " more)") : "";
    return Error(cat(checkpoint_dir, ": frozen tensor '", r.name, "'", others, " refers to '", r.source.key, "' of ",
                     file, ", ", what, "; restore that file, or use a checkpoint written with checkpoint.frozen=copy"));
  };
  const FrozenReference& first = *refs.front();
  std::error_code ec;
  if (!fs::exists(file, ec)) throw fail(first, "which is missing", true);
  const auto bytes = fs::file_size(file, ec);
  if (ec) throw fail(first, cat("which cannot be read (", ec.message(), ")"), true);
  if (bytes != first.source.file_bytes)
    throw fail(first, cat("whose size changed: ", first.source.file_bytes, " bytes recorded, ", bytes, " now"), true);
  io::NamedTensors tensors;
  try {
    tensors = io::load_tensors(file);
  } catch (const Error& e) {
    throw fail(first, cat("which cannot be loaded: ", e.what()), true);
  }
  for (const auto* r : refs) {
    auto t = io::find_tensor(tensors, r->source.key);
    if (!t.defined()) throw fail(*r, "which the file no longer holds");
    if (t.scalar_type() != r->source.dtype || t.sizes().vec() != r->source.shape)
      throw fail(*r, cat("which is ", io::safetensors_dtype_name(t.scalar_type()), " ", shape_text(t.sizes().vec()),
                         " now, ", io::safetensors_dtype_name(r->source.dtype), " ", shape_text(r->source.shape),
                         " recorded"));
    const uint64_t hash = io::tensor_hash(t);
    if (hash != r->source.hash)
      throw fail(*r, cat("whose values changed (hash ", io::hash_text(hash), ", recorded ",
                         io::hash_text(r->source.hash), ")"));
    if (t.is_floating_point()) t = t.to(torch::kFloat32);
    out[r->name] = t.to(r->dtype);
  }
}

}  // namespace

TensorSource tensor_source(const std::string& file, const std::string& key, const torch::Tensor& value) {
  TensorSource s;
  s.file = fs::absolute(file).lexically_normal().string();
  s.key = key;
  s.dtype = value.scalar_type();
  s.shape = value.sizes().vec();
  s.file_bytes = fs::file_size(s.file);
  s.hash = io::tensor_hash(value);
  return s;
}

std::string checkpoint_root(const std::string& output_dir) { return (fs::path(output_dir) / "checkpoints").string(); }

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%08lld", kPrefix, static_cast<long long>(step));
  return buf;
}

std::string begin_checkpoint(const std::string& output_dir, int64_t step) {
  const fs::path tmp = fs::path(checkpoint_root(output_dir)) / (checkpoint_name(step) + kTmpSuffix);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  return tmp.string();
}

void write_checkpoint_tensors(const std::string& tmp_dir, const std::string& file, const io::NamedTensors& tensors) {
  io::save_tensors((fs::path(tmp_dir) / file).string(), tensors);
}

void write_checkpoint_json(const std::string& tmp_dir, const std::string& file, const nlohmann::json& value) {
  const fs::path path = fs::path(tmp_dir) / file;
  {
    std::ofstream out(path.string() + ".part");
    out << value.dump(2) << "\n";
    VRWKV_CHECK(out.good(), path.string(), ": write failed");
  }
  fsync_path(path.string() + ".part");
  fs::rename(path.string() + ".part", path);
}

std::string commit_checkpoint(const std::string& tmp_dir) {
  const fs::path tmp(tmp_dir);
  std::string name = tmp.filename().string();
  VRWKV_CHECK(name.size() > 4 && name.compare(name.size() - 4, 4, kTmpSuffix) == 0, tmp_dir,
              ": not a temporary checkpoint folder");
  const fs::path final_dir = tmp.parent_path() / name.substr(0, name.size() - 4);
  fsync_path(tmp);
  if (fs::exists(final_dir)) {
    // A checkpoint of the same step from an earlier run: swapped out in one step, then deleted
    // (it now carries the .tmp name, so an interrupted delete is garbage the next prune removes).
    if (exchange(tmp, final_dir)) {
      fsync_path(final_dir.parent_path());
      fs::remove_all(tmp);
      return final_dir.string();
    }
    // No exchange on this file system: rename the old one aside first (a brief window).
    const fs::path old = tmp.parent_path() / (name.substr(0, name.size() - 4) + ".old" + kTmpSuffix);
    fs::remove_all(old);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fsync_path(final_dir.parent_path());
    fs::remove_all(old);
    return final_dir.string();
  }
  fs::rename(tmp, final_dir);
  fsync_path(final_dir.parent_path());
  return final_dir.string();
}

void prune_checkpoints(const std::string& output_dir, int64_t keep_last) {
  const auto complete = complete_checkpoints(output_dir);
  for (size_t i = 0; i + keep_last < complete.size(); ++i) fs::remove_all(complete[i]);
  const fs::path root = checkpoint_root(output_dir);
  if (!fs::is_directory(root)) return;
  for (const auto& e : fs::directory_iterator(root)) {
    const auto name = e.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, kTmpSuffix) == 0) fs::remove_all(e.path());
  }
}

std::vector<std::string> set_aside_checkpoints_after(const std::string& output_dir, int64_t step) {
  std::vector<std::string> moved;
  const fs::path root = checkpoint_root(output_dir);
  if (!fs::is_directory(root)) return moved;
  std::vector<fs::path> newer;
  for (const auto& e : fs::directory_iterator(root))
    if (is_complete(e) && step_of(e.path().filename().string()) > step) newer.push_back(e.path());  // *.tmp: garbage
  std::sort(newer.begin(), newer.end());
  const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch()).count());
  for (const auto& path : newer) {
    const fs::path target = root / kSetAside / (path.filename().string() + "." + stamp);
    fs::create_directories(target.parent_path());
    fs::rename(path, target);
    moved.push_back(target.string());
  }
  if (!moved.empty()) fsync_path(root);
  return moved;
}

std::string save_checkpoint(dist::Communicator& comm, const std::string& output_dir, int64_t keep_last,
                            CheckpointContents c) {
  const std::string tmp = (fs::path(checkpoint_root(output_dir)) / (checkpoint_name(c.step) + kTmpSuffix)).string();
  if (comm.is_main()) begin_checkpoint(output_dir, c.step);
  fault_point("opened", c.step);
  comm.barrier();
  if (c.writes_optimizer) write_checkpoint_tensors(tmp, cat("optimizer.rank", comm.rank(), ".safetensors"), c.optimizer);
  comm.barrier();
  std::string final_dir = (fs::path(checkpoint_root(output_dir)) / checkpoint_name(c.step)).string();
  if (comm.is_main()) {
    fault_point("optimizer_written", c.step);
    write_checkpoint_tensors(tmp, "model.safetensors", c.weights);
    write_checkpoint_json(tmp, kFrozenFile, frozen_json(c.frozen));
    fault_point("model_written", c.step);
    write_checkpoint_tensors(tmp, "rng.safetensors", c.rng);
    write_checkpoint_json(tmp, "trainer.json", c.trainer);  // last: it marks the folder complete
    fault_point("before_commit", c.step);
    final_dir = commit_checkpoint(tmp);
    fault_point("committed", c.step);
    prune_checkpoints(output_dir, keep_last);
  }
  comm.barrier();
  return final_dir;
}

io::NamedTensors load_optimizer_state(const std::string& checkpoint_dir,
                                      const std::function<bool(const std::string&)>& wanted) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(checkpoint_dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("optimizer.rank", 0) == 0 && e.path().extension() == ".safetensors") files.push_back(e.path());
  }
  VRWKV_CHECK(!files.empty(), checkpoint_dir, ": no optimizer.rank<R>.safetensors file");
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

CheckpointWeights read_checkpoint_weights(const std::string& checkpoint_dir) {
  CheckpointWeights w;
  auto stored = io::load_tensors((fs::path(checkpoint_dir) / "model.safetensors").string());
  // Checkpoints from before references have no frozen.json: their model.safetensors is complete.
  const auto frozen_path = fs::path(checkpoint_dir) / kFrozenFile;
  if (!fs::exists(frozen_path)) {
    w.tensors = std::move(stored);
    return w;
  }
  const auto refs = parse_frozen(read_checkpoint_json(checkpoint_dir, kFrozenFile), frozen_path.string());
  // One pass per source file: each is loaded once, whatever the number of tensors it supplies.
  std::map<std::string, std::vector<const FrozenReference*>> by_file;
  for (const auto& r : refs) by_file[r.source.file].push_back(&r);
  std::map<std::string, torch::Tensor> resolved;
  for (const auto& [file, group] : by_file) resolve_from_file(checkpoint_dir, file, group, resolved);

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

std::string find_latest_checkpoint(const std::string& output_dir) {
  const auto complete = complete_checkpoints(output_dir);
  return complete.empty() ? std::string() : complete.back().string();
}

std::string resolve_checkpoint(const std::string& path) {
  if (fs::exists(fs::path(path) / "trainer.json")) return path;
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

}  // namespace vrwkv::train
