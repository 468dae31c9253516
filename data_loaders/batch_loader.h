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
#include "sample_builder7.h"
#include "sampler.h"
#include "skip_stats.h"

namespace vrwkv::data {

struct LoaderOptions {
  int64_t num_workers = 2;
  int64_t prefetch_batches = 4;
};

// Micro batch `indices` of the dataset: the samples that can be used, collated, and the bad ones
// left out and listed in Batch::skipped. Called from the worker threads.
using BatchMaker = std::function<Batch(const std::vector<uint64_t>& indices)>;

// v6 (SampleBuilder, collate; images of image_size) and v7 (SampleBuilder7, collate7).
BatchMaker v6_batches(const SampleBuilder& builder, int64_t image_size);
BatchMaker v7_batches(const SampleBuilder7& builder);

class BatchLoader {
 public:
  // Starts the workers at global stream position `start_sample` (a checkpoint's cursor, or 0).
  BatchLoader(BatchMaker make_batch, GlobalOrder order, StepLayout layout, int64_t start_sample,
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

  BatchMaker make_batch_;
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
