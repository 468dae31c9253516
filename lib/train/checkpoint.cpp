#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "io/tensor_file.h"

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

bool is_complete(const fs::directory_entry& e) {
  const auto name = e.path().filename().string();
  return e.is_directory() && name.rfind(kPrefix, 0) == 0 && name.find(kTmpSuffix) == std::string::npos &&
         fs::exists(e.path() / "trainer.json");
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

}  // namespace

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
  fs::remove_all(final_dir);  // a checkpoint of the same step from an interrupted earlier run
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
