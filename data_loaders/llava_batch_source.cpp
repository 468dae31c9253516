#include "llava_batch_source.h"

#include "base/error.h"
#include "batch_loader.h"
#include "image_source.h"
#include "llava_dataset.h"
#include "text/tokenizer.h"

namespace vrwkv::data {
namespace {

class LlavaBatchSource : public train::BatchSource {
 public:
  explicit LlavaBatchSource(const train::BatchSourceSpec& spec)
      : file_(spec.config.data.file),
        dataset_(checked_file(spec.config)),
        tokenizer_(text::make_tokenizer(spec.config.tokenizer.kind, spec.config.tokenizer.path)),
        builder_(dataset_, *tokenizer_, spec.config.data, spec.config.model.image_tokens(),
                 make_image_loader(spec.config.data.image)),
        skips_(spec.config.data.max_skip_fraction),
        loader_(builder_, GlobalOrder(dataset_.size(), spec.config.seed),
                StepLayout{spec.micro_batch, spec.accumulation, spec.rank, spec.world_size}, spec.start_sample,
                {spec.config.data.num_workers, spec.config.data.prefetch_batches, spec.config.data.image.size},
                skips_) {
    skips_.set_earlier(spec.earlier_skips);  // counted from the first next(), after this
  }

  train::Batch next() override {
    auto b = loader_.next();
    return {std::move(b.input_ids), std::move(b.labels), std::move(b.images)};
  }
  nlohmann::json skip_stats() const override { return skips_.to_json(); }
  std::string describe() const override { return cat(dataset_.size(), " samples in ", file_); }

 private:
  static const std::string& checked_file(const RunConfig& config) {
    VRWKV_CHECK(!config.data.file.empty(), config.source, ": data.file is not set");
    return config.data.file;
  }

  std::string file_;
  LlavaDataset dataset_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  SampleBuilder builder_;
  SkipStats skips_;
  BatchLoader loader_;  // last: its workers use everything above, and stop first
};

}  // namespace

std::unique_ptr<train::BatchSource> make_llava_batch_source(const train::BatchSourceSpec& spec) {
  return std::make_unique<LlavaBatchSource>(spec);
}

}  // namespace vrwkv::data
