// Where the trainer's batches come from. The trainer defines this interface and pulls from it; the
// data side (data_loaders/llava_batch_source.h) implements it, so the core never links a decoder.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "model/vision_towers7.h"  // TowerPixels

namespace vrwkv::train {

// The model's inputs for one micro batch (SPEC section 5), on the CPU. No rows when all its
// samples were bad: the micro batch still holds its place in the global batch.
struct Batch {
  torch::Tensor input_ids;  // [B, T] int64, padded with 0
  torch::Tensor labels;     // [B, T] int64, padded with kIgnoreLabel
  torch::Tensor images;     // v6: [B, 3, S, S] float32 (zeros for text-only samples)
  TowerPixels towers;       // v7: every image of the batch in sample order, per tower (none: undefined)
};

// The held-out samples validation measures (data.val_file, or data.val_fraction of data.file), in
// a fixed order of positions [0, size()).
struct ValidationBatch {
  Batch batch;
  std::vector<int64_t> positions;  // each row's position (bad samples are left out, never replaced)
};

class ValidationSet {
 public:
  virtual ~ValidationSet() = default;
  virtual int64_t size() const = 0;
  // The samples at positions [first, first + count); a bad one is left out, logged and counted.
  virtual ValidationBatch batch(int64_t first, int64_t count) = 0;
  // Bad samples left out so far by this process.
  virtual int64_t skipped() const = 0;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next micro batch of this rank, in the order of BatchSourceSpec; throws vrwkv::Error when
  // the run must stop (the skip ceiling, an image this build cannot decode).
  virtual Batch next() = 0;
  // Bad samples this process left out so far: {"seen", "skipped", "by_reason"}.
  virtual nlohmann::json skip_stats() const = 0;
  // One line for the log: what is read, how many samples.
  virtual std::string describe() const = 0;
  // The run's validation samples; null when the config names none.
  virtual ValidationSet* validation() { return nullptr; }
};

// One global order of samples for the whole run (data_loaders/sampler.h): each optimizer step
// takes the next micro_batch x accumulation x world_size samples, and this rank's `accumulation`
// micro batches are its consecutive share of them. The micro batches depend on the micro batch
// size alone, so the same run on any number of ranks trains the same micro batches.
struct BatchSourceSpec {
  const RunConfig& config;
  int rank = 0, world_size = 1;
  int64_t micro_batch = 1, accumulation = 1;
  int64_t start_sample = 0;         // the cursor: samples of the global order consumed before
  nlohmann::json earlier_skips;     // the whole run's skip counts before (null: none)
};

using BatchSourceFactory = std::function<std::unique_ptr<BatchSource>(const BatchSourceSpec&)>;

}  // namespace vrwkv::train
