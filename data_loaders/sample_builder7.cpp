#include "sample_builder7.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "model/visual_rwkv7.h"

namespace vrwkv::data {

SampleBuilder7::SampleBuilder7(const LlavaDataset& dataset, const text::Tokenizer& tokenizer, const DataConfig& config,
                               text::V7Layout layout, TowerImageLoader load_image)
    : dataset_(dataset), tokenizer_(tokenizer), config_(config), layout_(layout), load_image_(std::move(load_image)) {}

text::Conversation SampleBuilder7::conversation(size_t index) const {
  auto conversation = dataset_.conversation(index);
  if (config_.drop_empty_replies) {
    // A placeholder in a dropped round leaves fewer <image> than paths: render's image_count skip.
    auto pieces = text::clean_conversation(conversation, /*max_rounds=*/0);
    conversation.turns = pieces.empty() ? std::vector<text::Turn>{} : pieces.front().turns;
  }
  return conversation;
}

Sample7 SampleBuilder7::build(size_t index) const {
  const auto conversation = this->conversation(index);
  const auto n_images = static_cast<int64_t>(conversation.images.size());
  auto rendered = text::render_conversation_v7(conversation, n_images, layout_, tokenizer_);
  // The loss predicts label t + 1 at position t: label 0 is never a target.
  if (std::all_of(rendered.labels.begin() + std::min<size_t>(1, rendered.labels.size()), rendered.labels.end(),
                  [](int64_t l) { return l == text::kIgnoreIndex; }))
    throw text::SampleError("no_answer_after_truncation", cat("sample ", conversation.id, ": no answer token within ",
                                                              "the first ctx_len ", layout_.ctx_len, " ids"));
  Sample7 out{conversation.id, std::move(rendered.input_ids), std::move(rendered.labels), {}};
  for (const auto& image : conversation.images) {
    const auto path = (std::filesystem::path(config_.image_folder) / image).string();
    try {
      out.images.push_back(load_image_(path));
    } catch (const text::SampleError& e) {
      throw text::SampleError(e.reason(), cat("sample ", out.id, ": ", e.what()));
    }
  }
  return out;
}

Batch collate7(std::vector<Sample7> samples) {
  Batch b;
  const int64_t B = samples.size();
  const int64_t T = B > 0 ? static_cast<int64_t>(samples.front().input_ids.size()) : 0;
  b.input_ids = torch::zeros({B, T}, torch::kInt64);
  b.labels = torch::full({B, T}, text::kIgnoreIndex, torch::kInt64);
  std::vector<TowerPixels> images;
  for (int64_t i = 0; i < B; ++i) {
    auto& s = samples[i];
    VRWKV_CHECK(int64_t(s.input_ids.size()) == T && int64_t(s.labels.size()) == T, "collate7: sample ", s.id, " has ",
                s.input_ids.size(), " ids, the batch ", T, " (every v7 sample is ctx_len long)");
    std::copy(s.input_ids.begin(), s.input_ids.end(), b.input_ids[i].data_ptr<int64_t>());
    std::copy(s.labels.begin(), s.labels.end(), b.labels[i].data_ptr<int64_t>());
    for (auto& image : s.images) images.push_back(std::move(image));
    b.ids.push_back(std::move(s.id));
  }
  b.towers = concat_tower_pixels(images);
  return b;
}

}  // namespace vrwkv::data
