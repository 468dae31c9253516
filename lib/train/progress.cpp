#include "train/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "base/device_memory.h"
#include "base/error.h"

namespace vrwkv::train {

double host_memory_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return double(resident) * double(sysconf(_SC_PAGESIZE));
}

double device_peak_memory_bytes() { return double(cuda_peak_allocated_bytes()); }

double flops_per_token(const VisualRWKV& model, int64_t ctx_len) {
  double lm = 0, vision = 0;
  for (const auto& item : model->rwkv->named_parameters())
    if (item.key().rfind("emb.", 0) != 0) lm += item.value().numel();
  for (const auto& p : model->vit->parameters()) vision += p.numel();
  const double patches = double(model->config.vision.num_patches() + 1);
  return 6 * lm + 2 * vision * patches / double(std::max<int64_t>(1, ctx_len));
}

double flops_per_token(const VisualRWKV7& model, int64_t ctx_len) {
  auto count = [](const torch::nn::Module& m) {
    double n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  double lm = 0;
  for (const auto& item : model->rwkv->named_parameters())
    if (item.key().rfind("emb.", 0) != 0) lm += item.value().numel();
  const auto& t = model->config.towers;
  const double towers = count(*model->vit->dino) * double(t.dino.num_patches() + t.dino.prefix_tokens()) +
                        count(*model->vit->siglip) * double(t.siglip.num_patches() + t.siglip.prefix_tokens()) +
                        count(*model->vit->sam) * double(t.sam.grid_side() * t.sam.grid_side());
  double proj = 0;
  for (const auto& item : model->named_parameters())
    if (item.key().rfind("proj.", 0) == 0) proj += item.value().numel();
  const double per_image = 2 * towers + 6 * proj * double(model->config.tokens_per_image);
  return 6 * lm + per_image / double(std::max<int64_t>(1, ctx_len));
}

namespace {

// TensorBoard's tag of a metrics.jsonl field: the training curves, the throughput, the clock and
// the data's health each in their own section.
std::string tag_of(const std::string& key) {
  if (key.find('/') != std::string::npos) return key;
  static const std::map<std::string, std::string> sections = {
      {"loss", "train"},         {"lr", "train"},           {"grad_norm", "train"}, {"tokens_per_s", "perf"},
      {"samples_per_s", "perf"}, {"memory_bytes", "perf"},  {"mfu", "perf"},        {"elapsed_s", "time"},
      {"eta_s", "time"},         {"skipped", "data"}};
  const auto it = sections.find(key);
  return (it == sections.end() ? std::string("train") : it->second) + "/" + key;
}

// Every number of `value` as a scalar; an object's members extend the tag ("data/skipped/seen").
void write_scalars(TensorBoardWriter& writer, const std::string& tag, int64_t step, const nlohmann::json& value) {
  if (value.is_number()) {
    writer.scalar(tag, step, value.get<double>());
  } else if (value.is_object()) {
    for (const auto& [key, member] : value.items()) write_scalars(writer, tag + "/" + key, step, member);
  }
}

}  // namespace

nlohmann::json add_skip_stats(const nlohmann::json& a, const nlohmann::json& b) {
  int64_t seen = 0, skipped = 0;
  std::map<std::string, int64_t> by_reason;
  for (const auto* part : {&a, &b}) {
    if (part->is_null()) continue;
    seen += part->value("seen", int64_t(0));
    skipped += part->value("skipped", int64_t(0));
    const auto reasons = part->value("by_reason", nlohmann::json::object());
    for (const auto& [reason, n] : reasons.items()) by_reason[reason] += n.get<int64_t>();
  }
  return {{"seen", seen}, {"skipped", skipped}, {"by_reason", by_reason}};
}

Progress::Progress(const std::string& metrics_path, int64_t first_step, int64_t total_steps, int64_t log_every,
                   double flops_per_token, double peak_flops, bool on_gpu)
    : metrics_(metrics_path, std::ios::app),
      tensorboard_((std::filesystem::path(metrics_path).parent_path() / kTensorBoardFolder).string()),
      first_step_(first_step), total_steps_(total_steps),
      log_every_(log_every), flops_per_token_(flops_per_token), peak_flops_(peak_flops), on_gpu_(on_gpu),
      start_(Clock::now()), window_start_(start_), last_step_(first_step) {}

void Progress::record(const StepStats& s) {
  window_tokens_ += s.tokens;
  window_samples_ += s.samples;
  ++window_steps_;
  total_tokens_ += s.tokens;
  total_samples_ += s.samples;
  if (s.not_finite) {
    ++bad_steps_;  // its loss stays out of the averages
  } else {
    window_loss_ += s.loss;
    ++window_finite_steps_;
    if (first_loss_ < 0) first_loss_ = s.loss;
    last_loss_ = s.loss;
  }
  last_step_ = s.step;
  if (s.step % log_every_ != 0 && s.step != total_steps_) return;

  const auto now = Clock::now();
  const double window_s = std::chrono::duration<double>(now - window_start_).count();
  const double elapsed_s = std::chrono::duration<double>(now - start_).count();
  const double tokens_per_s = window_tokens_ / std::max(window_s, 1e-9);
  const double samples_per_s = window_samples_ / std::max(window_s, 1e-9);
  const double steps_per_s = window_steps_ / std::max(window_s, 1e-9);
  const double eta_s = (total_steps_ - s.step) / std::max(steps_per_s, 1e-9);
  const double loss = window_finite_steps_ > 0 ? window_loss_ / window_finite_steps_ : std::nan("");
  // MFU only where the device's peak is known (never against a guessed one).
  const bool has_mfu = on_gpu_ && peak_flops_ > 0 && flops_per_token_ > 0;
  const double mfu = has_mfu ? tokens_per_s * flops_per_token_ / peak_flops_ : 0;
  const double memory = on_gpu_ ? device_peak_memory_bytes() : host_memory_bytes();
  std::string mfu_text = has_mfu ? fmt::format(" | MFU {:.1f}%", 100 * mfu) : "";
  spdlog::info("step {}/{} | loss {:.4f} | lr {:.3g} | grad norm {:.3f} | {:.0f} tok/s | {:.2f} samples/s{} | "
               "{} {:.2f} GiB | ETA {:.0f} min",
               s.step, total_steps_, loss, s.lr, s.grad_norm, tokens_per_s, samples_per_s, mfu_text,
               on_gpu_ ? "gpu peak" : "rss", memory / (1 << 30), eta_s / 60);
  nlohmann::json record = {{"step", s.step},
                           {"loss", loss},
                           {"lr", s.lr},
                           {"grad_norm", s.grad_norm},
                           {"tokens_per_s", tokens_per_s},
                           {"samples_per_s", samples_per_s},
                           {"memory_bytes", memory},
                           {"elapsed_s", elapsed_s},
                           {"eta_s", eta_s},
                           {"skipped", s.skips}};
  if (has_mfu) record["mfu"] = mfu;
  record["bad_steps"] = bad_steps_;  // the run's skipped non-finite steps since this process started
  emit(record);
  window_start_ = now;
  window_tokens_ = window_samples_ = window_steps_ = window_finite_steps_ = 0;
  window_loss_ = 0;
}

void Progress::log_figures(int64_t step, const nlohmann::json& figures) {
  VRWKV_CHECK(figures.is_object(), "Progress::log_figures: the figures of step ", step, " are not an object");
  nlohmann::json record = {{"step", step}};
  for (const auto& [key, value] : figures.items()) record[key] = value;
  emit(record);
}

void Progress::emit(const nlohmann::json& record) {
  metrics_ << record.dump() << "\n";
  metrics_.flush();
  const int64_t step = record.at("step").get<int64_t>();
  for (const auto& [key, value] : record.items())
    if (key != "step") write_scalars(tensorboard_, tag_of(key), step, value);
  tensorboard_.flush();
}

nlohmann::json Progress::summary() const {
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  return {{"steps", last_step_ - first_step_},
          {"final_step", last_step_},
          {"first_loss", first_loss_},
          {"last_loss", last_loss_},
          {"bad_steps", bad_steps_},
          {"tokens", total_tokens_},
          {"samples", total_samples_},
          {"elapsed_s", elapsed_s},
          {"tokens_per_s", total_tokens_ / std::max(elapsed_s, 1e-9)}};
}

}  // namespace vrwkv::train
