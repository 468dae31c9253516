// One dataset index -> one v7 training sample (SPEC-v7 section 7): parse, the optional clean-up,
// render_conversation_v7 (exactly ctx_len ids, K placeholder ids per image, images first in their
// human turn), then every image loaded for the three towers. Every reason a sample cannot be used
// is a text::SampleError with a stable reason code, counted by the loader.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "config/run_config.h"
#include "llava_dataset.h"
#include "sample_builder.h"  // Batch
#include "text/tokenizer.h"
#include "tower_image_source7.h"

namespace vrwkv::data {

struct Sample7 {
  std::string id;
  std::vector<int64_t> input_ids;  // ctx_len ids, right-padded with 0
  std::vector<int64_t> labels;     // ctx_len labels, -100 where nothing is predicted
  std::vector<TowerPixels> images;  // one per image, in the order of the sample's paths
};

class SampleBuilder7 {
 public:
  SampleBuilder7(const LlavaDataset& dataset, const text::Tokenizer& tokenizer, const DataConfig& config,
                 text::V7Layout layout, TowerImageLoader load_image);

  // The sample's conversation after the configured clean-up (drop_empty_replies).
  text::Conversation conversation(size_t index) const;
  // Everything the loader needs; throws text::SampleError. A sample left without a label to
  // predict ("no_answer_after_truncation") is skipped, as v6 does: it would only dilute the batch mean.
  Sample7 build(size_t index) const;

  const LlavaDataset& dataset() const { return dataset_; }

 private:
  const LlavaDataset& dataset_;
  const text::Tokenizer& tokenizer_;
  DataConfig config_;
  text::V7Layout layout_;
  TowerImageLoader load_image_;
};

// input_ids / labels [B, ctx_len] stacked; towers: every image of every sample, in batch order
// (undefined when the batch has none: text-only batches train, unlike the original's collate).
Batch collate7(std::vector<Sample7> samples);

}  // namespace vrwkv::data
