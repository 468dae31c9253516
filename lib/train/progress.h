// Progress of a run: the console / log line every K steps (step of total, loss, lr, tokens/s,
// samples/s, MFU on a GPU of known peak, memory, ETA), one metrics.jsonl record per logged step
// with the same figures as TensorBoard scalars (<output_dir>/tensorboard), and the totals for the
// closing summary.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>

#include "model/visual_rwkv.h"
#include "model/visual_rwkv7.h"
#include "train/mfu.h"
#include "train/tensorboard.h"

namespace vrwkv::train {

// Training FLOPs per sequence position: 6 per trained-or-backpropagated weight of the language
// model (the embedding is a lookup), plus the frozen tower's forward spread over the positions.
double flops_per_token(const VisualRWKV& model, int64_t ctx_len);
// v7: the same for the RWKV-7 LM, plus the projector's 6 per weight on each of an image's K tokens
// and the three towers' forward (2 per weight on each token a tower sees: DINOv2 its patches and
// prefix, SigLIP its patches, SAM its full-resolution grid), one image per sample spread over the
// positions.
double flops_per_token(const VisualRWKV7& model, int64_t ctx_len);

// Adds skip counts ({"seen", "skipped", "by_reason"}); null counts as zero.
nlohmann::json add_skip_stats(const nlohmann::json& a, const nlohmann::json& b);

struct StepStats {
  int64_t step = 0;           // optimizer steps done, after this one
  double loss = 0;            // mean over the step's micro batches and ranks
  double lr = 0;
  double grad_norm = 0;       // before clipping
  int64_t tokens = 0;         // sequence positions processed this step, all ranks
  int64_t samples = 0;        // samples trained on this step, all ranks
  nlohmann::json skips;       // the whole run's skipped-sample counts (set on logging steps)
  bool not_finite = false;    // the loss or gradient norm was not finite on some rank: no update
};

class Progress {
 public:
  // flops_per_token: the model's training FLOPs per position; peak_flops of the device (mfu.h);
  // either 0: no MFU. The event files go to tensorboard/ beside metrics_path.
  Progress(const std::string& metrics_path, int64_t first_step, int64_t total_steps, int64_t log_every,
           double flops_per_token, double peak_flops, bool on_gpu);

  // Records one step; logs and appends to metrics.jsonl when it is a logging step (or the last).
  void record(const StepStats& s);
  // Other figures of a step (e.g. {"val/loss": 2.1}): one metrics.jsonl record {"step", ...} and
  // a TensorBoard scalar per number (a key with a '/' is its own tag).
  void log_figures(int64_t step, const nlohmann::json& figures);
  nlohmann::json summary() const;

 private:
  using Clock = std::chrono::steady_clock;
  // The one place a record leaves: metrics.jsonl and the event file, both flushed.
  void emit(const nlohmann::json& record);
  std::ofstream metrics_;
  TensorBoardWriter tensorboard_;
  int64_t first_step_, total_steps_, log_every_;
  double flops_per_token_, peak_flops_;
  bool on_gpu_;
  Clock::time_point start_, window_start_;
  int64_t window_tokens_ = 0, window_samples_ = 0, window_steps_ = 0;
  double window_loss_ = 0;
  int64_t window_finite_steps_ = 0, bad_steps_ = 0;  // bad: not finite, skipped
  int64_t total_tokens_ = 0, total_samples_ = 0, last_step_ = 0;
  double first_loss_ = -1, last_loss_ = 0;
};

// Resident memory of this process in bytes (CPU) and the peak CUDA allocation (0 without CUDA).
double host_memory_bytes();
double device_peak_memory_bytes();

}  // namespace vrwkv::train
