// TensorBoard event files of a run (<output_dir>/tensorboard/events.out.tfevents.<seconds>.<host>),
// written by us as TFRecords of Event messages, and their trimming when a run resumes.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace vrwkv::train {

// The folder under checkpoint.output_dir that holds the event files.
inline constexpr const char* kTensorBoardFolder = "tensorboard";
// The version string a reader expects in each file's first event.
inline constexpr const char* kEventFileVersion = "brain.Event:2";

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it that sorts after every event file already there
  // (TensorBoard reads a folder's files in name order).
  explicit TensorBoardWriter(const std::string& dir);
  void scalar(const std::string& tag, int64_t step, double value);
  // Makes what was written readable now (called once a logging step).
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Keeps the events of steps up to `last_step` in `dir` (the later ones belong to an abandoned
// lineage), so TensorBoard sees each step once after a resume. The kept events go into one new
// file, written aside and renamed into place, and then the old files are removed. A torn last
// record (a writer killed mid-write) is dropped with a warning. Returns the new file ("" when `dir`
// holds no event file).
std::string trim_tensorboard(const std::string& dir, int64_t last_step);

// The event files of `dir`, in the order TensorBoard reads them.
std::vector<std::string> event_files(const std::string& dir);

}  // namespace vrwkv::train
