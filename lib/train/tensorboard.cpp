#include "train/tensorboard.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "io/tfrecord.h"
#include "train/tensorboard_event.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPrefix = "events.out.tfevents.";

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == 0) return "localhost";
  return name;
}

// events.out.tfevents.<seconds>.<host>[.<n>], the first such name after every event file of `dir`.
std::string new_event_file(const std::string& dir) {
  const auto existing = event_files(dir);
  const std::string base =
      (fs::path(dir) / (kPrefix + std::to_string(int64_t(now_seconds())) + "." + host_name())).string();
  for (int n = 0;; ++n) {
    const std::string name = n == 0 ? base : base + "." + std::to_string(n);
    if (existing.empty() || name > existing.back()) return name;
  }
}

std::string file_version_record() {
  TensorBoardEvent first;
  first.wall_time = now_seconds();
  first.file_version = kEventFileVersion;
  return encode_event(first);
}

}  // namespace

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind(kPrefix, 0) == 0) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  fs::create_directories(dir);
  path_ = new_event_file(dir);
  out_.open(path_, std::ios::binary | std::ios::app);
  VRWKV_CHECK(out_.good(), path_, ": cannot create the TensorBoard event file");
  io::write_tfrecord(out_, file_version_record());
  flush();
}

void TensorBoardWriter::scalar(const std::string& tag, int64_t step, double value) {
  TensorBoardEvent event;
  event.wall_time = now_seconds();
  event.step = step;
  event.scalars.emplace_back(tag, float(value));
  io::write_tfrecord(out_, encode_event(event));
}

void TensorBoardWriter::flush() {
  out_.flush();
  VRWKV_CHECK(out_.good(), path_, ": writing the TensorBoard event file failed");
}

std::string trim_tensorboard(const std::string& dir, int64_t last_step) {
  const auto old_files = event_files(dir);
  if (old_files.empty()) return "";
  std::string kept = io::tfrecord_frame(file_version_record());
  for (const auto& file : old_files) {
    const auto records = io::read_tfrecords(file);
    if (records.torn) spdlog::warn("{}: dropped a torn last record (a write cut short)", file);
    for (const auto& record : records.records) {
      const auto event = decode_event(record, file);
      if (event.file_version.empty() && event.step <= last_step) kept += io::tfrecord_frame(record);
    }
  }
  const std::string target = new_event_file(dir), part = dir + "/trimmed.part";
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out.write(kept.data(), std::streamsize(kept.size()));
    out.flush();
    VRWKV_CHECK(out.good(), part, ": writing the trimmed TensorBoard events failed");
  }
  // On the disk before the old files go: a crash then leaves the old events or the trimmed ones. The
  // part's name lacks the events prefix, so a crash before the rename leaves nothing read as events.
  fsync_file(part);
  fs::rename(part, target);
  for (const auto& file : old_files) fs::remove(file);
  return target;
}

}  // namespace vrwkv::train
