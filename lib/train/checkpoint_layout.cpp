#include "train/checkpoint_layout.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRootFolder = "checkpoints";
constexpr const char* kSetAsideFolder = "set_aside";
constexpr const char* kStepPrefix = "step_";
constexpr size_t kStepDigits = 8;  // zero-padded: the names sort by step
constexpr const char* kTmpSuffix = ".tmp";
constexpr const char* kOptimizerPrefix = "optimizer.rank";
constexpr const char* kOptimizerExtension = ".safetensors";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

namespace checkpoint_file {

std::string optimizer(int rank) { return kOptimizerPrefix + std::to_string(rank) + kOptimizerExtension; }

std::string optimizer_pattern() { return std::string(kOptimizerPrefix) + "<R>" + kOptimizerExtension; }

std::string optimizer_glob() { return std::string(kOptimizerPrefix) + "*" + kOptimizerExtension; }

bool is_optimizer(const std::string& file_name) {
  return file_name.rfind(kOptimizerPrefix, 0) == 0 && fs::path(file_name).extension() == kOptimizerExtension;
}

}  // namespace checkpoint_file

std::string checkpoint_root(const std::string& output_dir) { return (fs::path(output_dir) / kRootFolder).string(); }

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%0*lld", kStepPrefix, static_cast<int>(kStepDigits), static_cast<long long>(step));
  return buf;
}

std::string checkpoint_dir(const std::string& output_dir, int64_t step) {
  return (fs::path(checkpoint_root(output_dir)) / checkpoint_name(step)).string();
}

std::string temporary_checkpoint_dir(const std::string& output_dir, int64_t step) {
  return checkpoint_dir(output_dir, step) + kTmpSuffix;
}

std::string final_checkpoint_dir(const std::string& tmp_dir) {
  const fs::path tmp(tmp_dir);
  const std::string name = tmp.filename().string();
  if (name.size() <= std::string(kTmpSuffix).size() || !ends_with(name, kTmpSuffix)) return "";
  return (tmp.parent_path() / name.substr(0, name.size() - std::string(kTmpSuffix).size())).string();
}

std::string displaced_checkpoint_dir(const std::string& final_dir) { return final_dir + ".old" + kTmpSuffix; }

bool is_temporary_name(const std::string& name) {
  return name.size() > std::string(kTmpSuffix).size() && ends_with(name, kTmpSuffix);
}

std::string set_aside_dir(const std::string& output_dir, const std::string& checkpoint_name, const std::string& stamp) {
  return (fs::path(checkpoint_root(output_dir)) / kSetAsideFolder / (checkpoint_name + "." + stamp)).string();
}

bool holds_complete_checkpoint(const std::string& dir) { return fs::exists(fs::path(dir) / checkpoint_file::kTrainer); }

int64_t checkpoint_step(const std::string& name) {
  const size_t prefix = std::string(kStepPrefix).size();
  if (name.rfind(kStepPrefix, 0) != 0 || name.size() < prefix + kStepDigits) return -1;
  const std::string rest = name.substr(prefix + kStepDigits);
  if (!rest.empty() && rest != kTmpSuffix) return -1;
  for (size_t i = prefix; i < prefix + kStepDigits; ++i)
    if (name[i] < '0' || name[i] > '9') return -1;
  return std::stoll(name.substr(prefix, kStepDigits));
}

std::vector<std::string> complete_checkpoints(const std::string& output_dir) {
  std::vector<std::string> out;
  const fs::path root = checkpoint_root(output_dir);
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    const auto name = e.path().filename().string();
    if (e.is_directory() && checkpoint_step(name) >= 0 && !is_temporary_name(name) &&
        holds_complete_checkpoint(e.path().string()))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort by step
  return out;
}

std::string find_latest_checkpoint(const std::string& output_dir) {
  const auto complete = complete_checkpoints(output_dir);
  return complete.empty() ? std::string() : complete.back();
}

}  // namespace vrwkv::train
