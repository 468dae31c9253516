#include "llava_batch_source.h"

#include "base/error.h"
#include "batch_loader.h"
#include "image_source.h"
#include "tower_image_source7.h"
#include "llava_dataset.h"
#include "validation_set.h"
#include "text/tokenizer.h"

namespace vrwkv::data {
namespace {

class LlavaBatchSource : public train::BatchSource {
 public:
  explicit LlavaBatchSource(const train::BatchSourceSpec& spec)
      : file_(spec.config.data.file),
        dataset_(checked_file(spec.config)),
        tokenizer_(text::make_tokenizer(spec.config.tokenizer.kind, spec.config.tokenizer.path)),
        skips_(spec.config.data.max_skip_fraction),
        loader_(make_batches(spec.config), training_order(spec.config, dataset_.size(), held_out_),
                StepLayout{spec.micro_batch, spec.accumulation, spec.rank, spec.world_size}, spec.start_sample,
                {spec.config.data.num_workers, spec.config.data.prefetch_batches}, skips_) {
    skips_.set_earlier(spec.earlier_skips);  // counted from the first next(), after this
    if (!held_out_.empty() && builder7_)
      validation_ = make_held_out_validation(*builder7_, held_out_);
    else if (!held_out_.empty())
      validation_ = make_held_out_validation(*builder_, held_out_, spec.config.data.image.size);
    else if (!spec.config.data.val_file.empty())
      validation_ = make_file_validation(spec.config, *tokenizer_);
  }

  train::Batch next() override {
    auto b = loader_.next();
    return {std::move(b.input_ids), std::move(b.labels), std::move(b.images), std::move(b.towers)};
  }
  nlohmann::json skip_stats() const override { return skips_.to_json(); }
  std::string describe() const override {
    std::string validation;
    if (!held_out_.empty()) validation = cat(" (", held_out_.size(), " held out for validation)");
    if (validation_ && held_out_.empty()) validation = cat("; validation: ", validation_->size(), " samples");
    return cat(dataset_.size(), " samples in ", file_, validation);
  }
  train::ValidationSet* validation() override { return validation_.get(); }

 private:
  // The training order: over every sample, or over those a held-out split leaves (data.val_fraction).
  static GlobalOrder training_order(const RunConfig& config, uint64_t n, std::vector<uint64_t>& held_out) {
    if (config.data.val_fraction <= 0) return GlobalOrder(n, config.seed);
    auto split = held_out_split(n, config.data.val_fraction, config.seed);
    held_out = std::move(split.validation);
    return GlobalOrder(std::move(split.train), config.seed);
  }

  // The family's sample builder (owned here, read by the workers) and the loader's batch maker.
  BatchMaker make_batches(const RunConfig& config) {
    if (config.family == ModelFamily::kV7) {
      const auto& m = config.model7;
      builder7_ = std::make_unique<SampleBuilder7>(
          dataset_, *tokenizer_, config.data, text::V7Layout{m.tokens_per_image, config.data.ctx_len},
          make_tower_image_loader7(config.data.image, tower_transforms7(m.towers)));
      return v7_batches(*builder7_);
    }
    builder_ = std::make_unique<SampleBuilder>(dataset_, *tokenizer_, config.data, config.model.image_tokens(),
                                               make_image_loader(config.data.image));
    return v6_batches(*builder_, config.data.image.size);
  }

  static const std::string& checked_file(const RunConfig& config) {
    VRWKV_CHECK(!config.data.file.empty(), config.source, ": data.file is not set");
    return config.data.file;
  }

  std::string file_;
  LlavaDataset dataset_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::unique_ptr<SampleBuilder> builder_;    // v6
  std::unique_ptr<SampleBuilder7> builder7_;  // v7
  SkipStats skips_;
  std::vector<uint64_t> held_out_;  // validation's part of dataset_ (data.val_fraction), before loader_
  BatchLoader loader_;  // its workers use everything above, and stop first
  std::unique_ptr<train::ValidationSet> validation_;
};

}  // namespace

std::unique_ptr<train::BatchSource> make_llava_batch_source(const train::BatchSourceSpec& spec) {
  return std::make_unique<LlavaBatchSource>(spec);
}

}  // namespace vrwkv::data
