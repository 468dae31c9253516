#include "validation_set.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <utility>

#include "base/error.h"
#include "tower_image_source7.h"

namespace vrwkv::data {
namespace {

// Builder: SampleBuilder (v6) or SampleBuilder7 (v7); collate_ turns its samples into a batch.
template <class Builder>
class LlavaValidationSet : public train::ValidationSet {
 public:
  using Sample = decltype(std::declval<const Builder&>().build(0));
  using Collate = std::function<Batch(std::vector<Sample>)>;

  // indices: the dataset index of each position (empty: position = index).
  LlavaValidationSet(const Builder& builder, std::vector<uint64_t> indices, Collate collate)
      : builder_(builder), indices_(std::move(indices)), collate_(std::move(collate)) {}
  // Owning its own data (data.val_file).
  LlavaValidationSet(std::unique_ptr<LlavaDataset> dataset, std::unique_ptr<Builder> builder, Collate collate)
      : own_dataset_(std::move(dataset)), own_builder_(std::move(builder)), builder_(*own_builder_),
        collate_(std::move(collate)) {}

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
    auto b = collate_(std::move(samples));
    out.batch = {std::move(b.input_ids), std::move(b.labels), std::move(b.images), std::move(b.towers)};
    return out;
  }

  int64_t skipped() const override { return skipped_; }

 private:
  std::unique_ptr<LlavaDataset> own_dataset_;
  std::unique_ptr<Builder> own_builder_;
  const Builder& builder_;
  std::vector<uint64_t> indices_;
  Collate collate_;
  int64_t skipped_ = 0;
};

std::function<Batch(std::vector<Sample>)> v6_collate(int64_t image_size) {
  return [image_size](std::vector<Sample> samples) { return collate(std::move(samples), image_size); };
}

}  // namespace

std::unique_ptr<train::ValidationSet> make_held_out_validation(const SampleBuilder& builder,
                                                               std::vector<uint64_t> indices, int64_t image_size) {
  VRWKV_CHECK(!indices.empty(), "validation: no held-out samples");
  return std::make_unique<LlavaValidationSet<SampleBuilder>>(builder, std::move(indices), v6_collate(image_size));
}

std::unique_ptr<train::ValidationSet> make_held_out_validation(const SampleBuilder7& builder,
                                                               std::vector<uint64_t> indices) {
  VRWKV_CHECK(!indices.empty(), "validation: no held-out samples");
  return std::make_unique<LlavaValidationSet<SampleBuilder7>>(builder, std::move(indices), collate7);
}

std::unique_ptr<train::ValidationSet> make_file_validation(const RunConfig& config, const text::Tokenizer& tokenizer) {
  auto dataset = std::make_unique<LlavaDataset>(config.data.val_file);
  VRWKV_CHECK(dataset->size() > 0, config.source, ": data.val_file ", config.data.val_file, " holds no samples");
  if (config.family == ModelFamily::kV7) {
    const auto& m = config.model7;
    auto builder = std::make_unique<SampleBuilder7>(
        *dataset, tokenizer, config.data, text::V7Layout{m.tokens_per_image, config.data.ctx_len},
        make_tower_image_loader7(config.data.image, tower_transforms7(m.towers)));
    return std::make_unique<LlavaValidationSet<SampleBuilder7>>(std::move(dataset), std::move(builder), collate7);
  }
  auto builder = std::make_unique<SampleBuilder>(*dataset, tokenizer, config.data, config.model.image_tokens(),
                                                 make_image_loader(config.data.image));
  return std::make_unique<LlavaValidationSet<SampleBuilder>>(std::move(dataset), std::move(builder),
                                                             v6_collate(config.data.image.size));
}

}  // namespace vrwkv::data
