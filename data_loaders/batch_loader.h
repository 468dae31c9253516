// Worker threads build batches ahead of the trainer into a bounded buffer. Batch k always holds
// the samples the global order assigns to this rank's k-th micro batch (bad ones left out and
// counted, never replaced; a micro batch whose samples were all bad comes out empty, so every rank
// stays on its place in the global batch), whatever the thread timing, so a run that resumes from
// a cursor sees exactly the batches it would have.
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
  int64_t num_workers = 2;
  int64_t prefetch_batches = 4;
  int64_t image_size = 336;
};

class BatchLoader {
 public:
  // Starts the workers at global stream position `start_sample` (a checkpoint's cursor, or 0).
  BatchLoader(const SampleBuilder& builder, GlobalOrder order, StepLayout layout, int64_t start_sample,
              LoaderOptions options, SkipStats& skips);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in order (waits for it; empty when all its samples were bad). Rethrows a
  // worker's error (e.g. the skip ceiling).
  Batch next();

 private:
  struct Job {
    int64_t number;
    std::vector<uint64_t> indices;
  };
  void work();

  const SampleBuilder& builder_;
  GlobalOrder order_;
  StepLayout layout_;
  int64_t start_sample_;
  LoaderOptions options_;
  SkipStats& skips_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_to_schedule_ = 0, next_to_consume_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vrwkv::data
