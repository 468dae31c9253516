#include "validation_set.h"

#include <spdlog/spdlog.h>

#include "base/error.h"

namespace vrwkv::data {
namespace {

class LlavaValidationSet : public train::ValidationSet {
 public:
  // indices: the dataset index of each position (empty: position = index).
  LlavaValidationSet(const SampleBuilder& builder, std::vector<uint64_t> indices, int64_t image_size)
      : builder_(builder), indices_(std::move(indices)), image_size_(image_size) {}
  // Owning its own data (data.val_file).
  LlavaValidationSet(std::unique_ptr<LlavaDataset> dataset, std::unique_ptr<SampleBuilder> builder, int64_t image_size)
      : own_dataset_(std::move(dataset)), own_builder_(std::move(builder)), builder_(*own_builder_),
        image_size_(image_size) {}

  int64_t size() const override {
    return int64_t(indices_.empty() ? builder_.dataset().size() : indices_.size());
  }

  train::ValidationBatch batch(int64_t first, int64_t count) override {
    VRWKV_CHECK(first >= 0 && count > 0 && first + count <= size(), "validation: positions ", first, "..",
                first + count - 1, " outside the set's ", size());
    train::ValidationBatch out;
    std::vector<Sample> samples;
    for (int64_t p = first; p < first + count; ++p) {
      const size_t index = indices_.empty() ? size_t(p) : size_t(indices_[p]);
      try {
        samples.push_back(builder_.build(index));
        out.positions.push_back(p);
      } catch (const text::SampleError& e) {
        // Each pass meets the same bad samples: the first few are logged, all are counted.
        if (skipped_ < 10)
          spdlog::warn("validation: sample {} left out ({}): {}", builder_.dataset().sample_id(index), e.reason(),
                       e.what());
        ++skipped_;
      }
    }
    if (samples.empty()) return out;
    auto b = collate(std::move(samples), image_size_);
    out.batch = {std::move(b.input_ids), std::move(b.labels), std::move(b.images)};
    return out;
  }

  int64_t skipped() const override { return skipped_; }

 private:
  std::unique_ptr<LlavaDataset> own_dataset_;
  std::unique_ptr<SampleBuilder> own_builder_;
  const SampleBuilder& builder_;
  std::vector<uint64_t> indices_;
  int64_t image_size_;
  int64_t skipped_ = 0;
};

}  // namespace

std::unique_ptr<train::ValidationSet> make_held_out_validation(const SampleBuilder& builder,
                                                               std::vector<uint64_t> indices, int64_t image_size) {
  VRWKV_CHECK(!indices.empty(), "validation: no held-out samples");
  return std::make_unique<LlavaValidationSet>(builder, std::move(indices), image_size);
}

std::unique_ptr<train::ValidationSet> make_file_validation(const RunConfig& config, const text::Tokenizer& tokenizer) {
  auto dataset = std::make_unique<LlavaDataset>(config.data.val_file);
  VRWKV_CHECK(dataset->size() > 0, config.source, ": data.val_file ", config.data.val_file, " holds no samples");
  auto builder = std::make_unique<SampleBuilder>(*dataset, tokenizer, config.data, config.model.image_tokens(),
                                                 make_image_loader(config.data.image));
  return std::make_unique<LlavaValidationSet>(std::move(dataset), std::move(builder), config.data.image.size);
}

}  // namespace vrwkv::data
