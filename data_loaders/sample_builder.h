// One dataset index -> one training sample: parse, optional clean-up, render in the configured
// prompt style, tokenise, check that it can be trained on, load its image. Every reason a sample
// cannot be used is a text::SampleError with a stable reason code.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "config/run_config.h"
#include "image_source.h"  // ImageLoader
#include "llava_dataset.h"
#include "model/vision_towers7.h"  // TowerPixels
#include "text/tokenizer.h"

namespace vrwkv::data {

struct Sample {
  std::string id;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;
  torch::Tensor image;  // [3, S, S], undefined for a text-only sample
};

class SampleBuilder {
 public:
  // image_tokens: K, the image embeddings one image becomes (for the ctx_len checks).
  SampleBuilder(const LlavaDataset& dataset, const text::Tokenizer& tokenizer, const DataConfig& config,
                int64_t image_tokens, ImageLoader load_image);

  // The sample's conversation after the configured clean-up (drop_empty_replies).
  text::Conversation conversation(size_t index) const;
  // The rendered sample before truncation and padding (for `render` and `validate-data`).
  text::RenderedSample render(size_t index, text::PromptStyle style) const;
  // Everything the loader needs; throws text::SampleError.
  Sample build(size_t index) const;
  // Throws text::SampleError when the sample has no answer left after ctx_len truncation or its
  // image would not fit in ctx_len.
  void check_trainable(const text::RenderedSample& sample, const std::string& id) const;

  const LlavaDataset& dataset() const { return dataset_; }

 private:
  const LlavaDataset& dataset_;
  const text::Tokenizer& tokenizer_;
  DataConfig config_;
  int64_t image_tokens_;
  ImageLoader load_image_;
};

// input_ids / labels padded with 0 / -100 to the longest sample, images stacked (zeros for
// text-only samples): the inputs of the model (SPEC section 5).
struct Batch {
  int64_t number = 0;            // position in the run's stream of batches
  std::vector<std::string> ids;  // the samples it holds (bad ones are left out, never replaced)
  torch::Tensor input_ids;       // [B, T] int64
  torch::Tensor labels;          // [B, T] int64
  torch::Tensor images;          // v6: [B, 3, S, S] float32
  TowerPixels towers;            // v7: every image of the batch in sample order, per tower (sample_builder7.h)
  // Bad samples left out of this batch.
  struct Skipped {
    std::string id, reason, message;
  };
  std::vector<Skipped> skipped;
};

Batch collate(std::vector<Sample> samples, int64_t image_size);

}  // namespace vrwkv::data
