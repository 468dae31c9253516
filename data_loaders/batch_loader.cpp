#include "batch_loader.h"

#include <torch/torch.h>

#include "base/error.h"

namespace vrwkv::data {
namespace {

// A micro batch whose samples were all bad: no rows, the shapes' other sizes kept.
Batch empty_batch(int64_t image_size) {
  Batch b;
  b.input_ids = torch::zeros({0, 0}, torch::kInt64);
  b.labels = torch::zeros({0, 0}, torch::kInt64);
  b.images = torch::zeros({0, 3, image_size, image_size}, torch::kFloat32);
  return b;
}

}  // namespace

BatchLoader::BatchLoader(const SampleBuilder& builder, GlobalOrder order, StepLayout layout, int64_t start_sample,
                         LoaderOptions options, SkipStats& skips)
    : builder_(builder), order_(std::move(order)), layout_(layout), start_sample_(start_sample), options_(options),
      skips_(skips) {
  order_.micro_batch(layout_, start_sample_, 0);  // checks the layout before any worker starts
  VRWKV_CHECK(options_.num_workers >= 1 && options_.prefetch_batches >= 1, "loader: needs >= 1 worker and prefetch");
  for (int64_t i = 0; i < options_.num_workers; ++i) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void BatchLoader::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || error_ || next_to_schedule_ < next_to_consume_ + options_.prefetch_batches;
      });
      if (stopping_ || error_) return;
      // The order's cache is shared: batch k's samples depend on k alone.
      job.number = next_to_schedule_++;
      job.indices = order_.micro_batch(layout_, start_sample_, job.number);
    }
    try {
      std::vector<Sample> samples;
      std::vector<Batch::Skipped> skipped;
      for (uint64_t index : job.indices) {
        try {
          samples.push_back(builder_.build(index));
        } catch (const text::SampleError& e) {
          skipped.push_back({builder_.dataset().sample_id(index), e.reason(), e.what()});
        }
      }
      Batch batch = samples.empty() ? empty_batch(options_.image_size) : collate(std::move(samples), options_.image_size);
      batch.number = job.number;
      batch.skipped = std::move(skipped);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(job.number, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return error_ || ready_.count(next_to_consume_); });
  if (error_) std::rethrow_exception(error_);
  Batch batch = std::move(ready_.extract(next_to_consume_).mapped());
  ++next_to_consume_;
  lock.unlock();
  cv_.notify_all();
  // Counted when handed out, not when built, so the counts do not depend on how far the workers
  // ran ahead; the ceiling check may throw here.
  for (size_t i = 0; i < batch.ids.size(); ++i) skips_.record_ok();
  for (const auto& s : batch.skipped) skips_.record_skip(s.reason, s.id, s.message);
  return batch;
}

}  // namespace vrwkv::data
