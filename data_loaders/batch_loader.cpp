#include "batch_loader.h"

#include <torch/torch.h>

#include "base/error.h"

namespace vrwkv::data {
namespace {

// The samples of `indices` that build, collated; each one that throws text::SampleError left out.
template <class Builder, class Collate>
Batch build_leaving_out_bad(const Builder& builder, const std::vector<uint64_t>& indices, Collate collate) {
  std::vector<decltype(builder.build(0))> samples;
  std::vector<Batch::Skipped> skipped;
  for (uint64_t index : indices) {
    try {
      samples.push_back(builder.build(index));
    } catch (const text::SampleError& e) {
      skipped.push_back({builder.dataset().sample_id(index), e.reason(), e.what()});
    }
  }
  Batch batch = collate(std::move(samples));
  batch.skipped = std::move(skipped);
  return batch;
}

}  // namespace

BatchMaker v6_batches(const SampleBuilder& builder, int64_t image_size) {
  return [&builder, image_size](const std::vector<uint64_t>& indices) {
    return build_leaving_out_bad(builder, indices, [image_size](std::vector<Sample> samples) {
      if (!samples.empty()) return collate(std::move(samples), image_size);
      // A micro batch whose samples were all bad: no rows, the shapes' other sizes kept.
      Batch b;
      b.input_ids = torch::zeros({0, 0}, torch::kInt64);
      b.labels = torch::zeros({0, 0}, torch::kInt64);
      b.images = torch::zeros({0, 3, image_size, image_size}, torch::kFloat32);
      return b;
    });
  };
}

BatchMaker v7_batches(const SampleBuilder7& builder) {
  return [&builder](const std::vector<uint64_t>& indices) { return build_leaving_out_bad(builder, indices, collate7); };
}

BatchLoader::BatchLoader(BatchMaker make_batch, GlobalOrder order, StepLayout layout, int64_t start_sample,
                         LoaderOptions options, SkipStats& skips)
    : make_batch_(std::move(make_batch)), order_(std::move(order)), layout_(layout), start_sample_(start_sample),
      options_(options), skips_(skips) {
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
      Batch batch = make_batch_(job.indices);
      batch.number = job.number;
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
