#include "train/checkpoint_writer.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc 2.28)
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "io/tensor_file.h"
#include "train/checkpoint_layout.h"
#include "train/fault_injection.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
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

}  // namespace

std::string begin_checkpoint(const std::string& output_dir, int64_t step) {
  const fs::path tmp = temporary_checkpoint_dir(output_dir, step);
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
  const std::string final_name = final_checkpoint_dir(tmp_dir);
  VRWKV_CHECK(!final_name.empty(), tmp_dir, ": not a temporary checkpoint folder");
  const fs::path final_dir(final_name);
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
    const fs::path old = displaced_checkpoint_dir(final_dir.string());
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
  for (const auto& e : fs::directory_iterator(root))
    if (is_temporary_name(e.path().filename().string())) fs::remove_all(e.path());
}

std::vector<std::string> set_aside_checkpoints_after(const std::string& output_dir, int64_t step) {
  std::vector<std::string> moved;
  std::vector<std::string> newer;  // *.tmp folders are garbage, not moved
  for (const auto& dir : complete_checkpoints(output_dir))
    if (checkpoint_step(fs::path(dir).filename().string()) > step) newer.push_back(dir);
  const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch()).count());
  for (const auto& path : newer) {
    const fs::path target = set_aside_dir(output_dir, fs::path(path).filename().string(), stamp);
    fs::create_directories(target.parent_path());
    fs::rename(path, target);
    moved.push_back(target.string());
  }
  if (!moved.empty()) fsync_path(checkpoint_root(output_dir));
  return moved;
}

std::string save_checkpoint(dist::Communicator& comm, const std::string& output_dir, int64_t keep_last,
                            CheckpointContents c) {
  const std::string tmp = temporary_checkpoint_dir(output_dir, c.step);
  if (comm.is_main()) begin_checkpoint(output_dir, c.step);
  fault_point("opened", c.step);
  comm.barrier();
  if (c.writes_optimizer) write_checkpoint_tensors(tmp, checkpoint_file::optimizer(comm.rank()), c.optimizer);
  comm.barrier();
  std::string final_dir = checkpoint_dir(output_dir, c.step);
  if (comm.is_main()) {
    fault_point("optimizer_written", c.step);
    write_checkpoint_tensors(tmp, checkpoint_file::kModel, c.weights);
    write_checkpoint_json(tmp, checkpoint_file::kFrozen, frozen_references_json(c.frozen));
    fault_point("model_written", c.step);
    write_checkpoint_tensors(tmp, checkpoint_file::kRng, c.rng);
    write_checkpoint_json(tmp, checkpoint_file::kTrainer, c.trainer);  // last: it marks the folder complete
    fault_point("before_commit", c.step);
    final_dir = commit_checkpoint(tmp);
    fault_point("committed", c.step);
    prune_checkpoints(output_dir, keep_last);
  }
  comm.barrier();
  return final_dir;
}

}  // namespace vrwkv::train
