// Where the trainer's batches come from. The trainer defines this interface and pulls from it; the
// data side (data_loaders/llava_batch_source.h) implements it, so the core never links a decoder.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config/run_config.h"

namespace vrwkv::train {

// The model's inputs for one micro batch (SPEC section 5), on the CPU.
struct Batch {
  torch::Tensor input_ids;  // [B, T] int64, padded with 0
  torch::Tensor labels;     // [B, T] int64, padded with kIgnoreLabel
  torch::Tensor images;     // [B, 3, S, S] float32 (zeros for text-only samples)
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next micro batch of this rank, in order; throws vrwkv::Error when the run must stop (the
  // skip ceiling, an image this build cannot decode).
  virtual Batch next() = 0;
  // Where this rank resumes after the last batch next() returned (stored in checkpoints).
  virtual nlohmann::json cursor() const = 0;
  // Bad samples left out so far: {"seen", "skipped", "by_reason"}.
  virtual nlohmann::json skip_stats() const = 0;
  // One line for the log: what is read, how many samples.
  virtual std::string describe() const = 0;
};

struct BatchSourceSpec {
  const RunConfig& config;
  int rank = 0, world_size = 1;
  nlohmann::json resume_cursor;  // null: from the start
  int64_t batches_done = 0;      // micro batches this rank consumed before (for batch numbering)
};

using BatchSourceFactory = std::function<std::unique_ptr<BatchSource>(const BatchSourceSpec&)>;

}  // namespace vrwkv::train
