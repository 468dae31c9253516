#include "batch_loader.h"

#include <torch/torch.h>

#include "base/error.h"

namespace vrwkv::data {

BatchLoader::BatchLoader(const SampleBuilder& builder, Sampler sampler, SamplerCursor start,
                         int64_t first_batch_number, LoaderOptions options, SkipStats& skips)
    : builder_(builder), sampler_(std::move(sampler)), options_(options), skips_(skips), schedule_cursor_(start),
      consumed_cursor_(start), next_to_schedule_(first_batch_number), next_to_consume_(first_batch_number) {
  VRWKV_CHECK(options_.batch_size >= 1, "loader: batch size must be >= 1");
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
      // Scheduling happens under the lock in batch order: batch n's samples depend on n alone.
      job.number = next_to_schedule_++;
      job.indices = sampler_.take(schedule_cursor_, options_.batch_size);
      job.cursor_after = schedule_cursor_;
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
      Batch batch = collate(std::move(samples), options_.image_size);
      batch.number = job.number;
      batch.skipped = std::move(skipped);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(job.number, std::make_pair(std::move(batch), job.cursor_after));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

Batch BatchLoader::next() {
  std::vector<Batch::Skipped> passed_over;
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return error_ || ready_.count(next_to_consume_); });
    if (error_) std::rethrow_exception(error_);
    auto node = ready_.extract(next_to_consume_);
    ++next_to_consume_;
    consumed_cursor_ = node.mapped().second;
    Batch batch = std::move(node.mapped().first);
    lock.unlock();
    cv_.notify_all();
    // Counted when handed out, not when built, so the counts do not depend on how far the
    // workers ran ahead; the ceiling check may throw here.
    for (size_t i = 0; i < batch.ids.size(); ++i) skips_.record_ok();
    for (const auto& s : batch.skipped) skips_.record_skip(s.reason, s.id, s.message);
    // A batch whose samples were all bad is passed over; its skips travel with the next one.
    passed_over.insert(passed_over.end(), batch.skipped.begin(), batch.skipped.end());
    if (!batch.ids.empty()) {
      batch.skipped = std::move(passed_over);
      return batch;
    }
  }
}

SamplerCursor BatchLoader::cursor() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consumed_cursor_;
}

}  // namespace vrwkv::data
