// Worker threads build batches ahead of the trainer into a bounded buffer. Batch n always holds
// the samples the sampler assigns to it (bad ones left out and counted, never replaced), whatever
// the thread timing, so a run that resumes from a cursor sees exactly the batches it would have.
#pragma once
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "sample_builder.h"
#include "sampler.h"
#include "skip_stats.h"

namespace vrwkv::data {

struct LoaderOptions {
  int64_t batch_size = 1;
  int64_t num_workers = 2;
  int64_t prefetch_batches = 4;
  int64_t image_size = 336;
};

class BatchLoader {
 public:
  // Starts the workers at `start` (a cursor from a checkpoint, or the beginning).
  BatchLoader(const SampleBuilder& builder, Sampler sampler, SamplerCursor start, int64_t first_batch_number,
              LoaderOptions options, SkipStats& skips);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in order (waits for it). Rethrows a worker's error (e.g. the skip ceiling).
  Batch next();
  // The cursor after the last batch next() returned: store it to resume after that batch.
  SamplerCursor cursor() const;

 private:
  struct Job {
    int64_t number;
    std::vector<uint64_t> indices;
    SamplerCursor cursor_after;
  };
  void work();

  const SampleBuilder& builder_;
  Sampler sampler_;
  LoaderOptions options_;
  SkipStats& skips_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  SamplerCursor schedule_cursor_;        // where the next scheduled batch starts
  SamplerCursor consumed_cursor_;        // after the last batch handed out
  int64_t next_to_schedule_, next_to_consume_;
  std::map<int64_t, std::pair<Batch, SamplerCursor>> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vrwkv::data
