#include "train/resume.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "train/checkpoint_layout.h"
#include "train/checkpoint_reader.h"
#include "train/checkpoint_writer.h"
#include "train/tensorboard.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

// Differences between two resolved configs, as key paths.
void config_differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
                        std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items())
      config_differences(v, b.contains(k) ? b.at(k) : nlohmann::json(), path.empty() ? k : path + "." + k, out);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) out.push_back(path.empty() ? k : path + "." + k);
    return;
  }
  if (a != b && !resume_may_change(path)) out.push_back(path);
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& source) {
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(trainer_state_path(source), ": field '", key, "': ", e.what()));
  }
}

// Keeps the records of steps up to `last_step`: the steps after it belong to an abandoned lineage.
void trim_metrics(const fs::path& path, int64_t last_step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("step") && j["step"].get<int64_t>() <= last_step) kept += line + "\n";
  }
  in.close();
  std::ofstream(path.string() + ".part") << kept;
  fs::rename(path.string() + ".part", path);
}

}  // namespace

bool resume_may_change(const std::string& key) {
  // The schema marks them (config::resumable): how long, how often, where; not what is trained on.
  return config::may_change_at_resume(run_config_schema(), key);
}

int64_t global_batch(const RunConfig& config, int world_size) {
  return config.train.micro_batch_size * config.train.grad_accumulation * world_size;
}

ResumePoint find_resume_point(const std::string& resume, bool force, const RunConfig& config,
                              dist::Communicator& comm) {
  const std::string& out_dir = config.checkpoint.output_dir;
  ResumePoint point;
  if (resume.empty()) return point;
  // Rank 0 chooses, every rank follows: the ranks must agree even while checkpoints change.
  std::string chosen;
  if (comm.is_main()) chosen = resume == "latest" ? find_latest_checkpoint(out_dir) : resolve_checkpoint(resume);
  point.dir = comm.all_gather_strings(chosen).at(0);
  if (point.dir.empty()) {
    spdlog::info("--resume: no checkpoint in {} yet; starting fresh", checkpoint_root(out_dir));
    return point;
  }
  point.trainer = read_trainer_state(point.dir);
  point.step = field<int64_t>(point.trainer, "step", point.dir);
  point.samples = field<int64_t>(point.trainer, "samples", point.dir);
  point.skips = point.trainer.value("skipped", nlohmann::json());

  std::vector<std::string> changed;
  config_differences(field<nlohmann::json>(point.trainer, "config", point.dir), config.resolved, "", changed);
  const int64_t before = field<int64_t>(point.trainer, "global_batch", point.dir),
                now = global_batch(config, comm.world_size());
  if (before != now)
    changed.push_back(cat("the global batch (micro batch x accumulation x world size: ", before, " before, ", now,
                          " now)"));
  const int old_world = field<int>(point.trainer, "world_size", point.dir);
  if (!changed.empty()) {
    std::string list;
    for (const auto& c : changed) list += (list.empty() ? "" : ", ") + c;
    VRWKV_CHECK(force, point.dir, ": the config changes the run (", list, "); resume with --force to accept that");
    spdlog::warn("resuming with a changed run ({}), as forced", list);
  }
  if (old_world != comm.world_size())
    spdlog::info("resuming a run of {} ranks on {}, {} micro batches accumulated per rank", old_world,
                 comm.world_size(), config.train.grad_accumulation);
  if (comm.is_main()) {
    for (const auto& aside : set_aside_checkpoints_after(out_dir, point.step))
      spdlog::warn("set aside {} (newer than the checkpoint resumed from)", aside);
    trim_metrics(fs::path(out_dir) / "metrics.jsonl", point.step);
    trim_tensorboard((fs::path(out_dir) / kTensorBoardFolder).string(), point.step);
  }
  comm.barrier();
  spdlog::info("resuming from {} at step {} (sample {} of the global order)", point.dir, point.step, point.samples);
  return point;
}

}  // namespace vrwkv::train
