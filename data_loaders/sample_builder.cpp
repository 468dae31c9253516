#include "sample_builder.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"

namespace vrwkv::data {

SampleBuilder::SampleBuilder(const LlavaDataset& dataset, const text::Tokenizer& tokenizer, const DataConfig& config,
                             int64_t image_tokens, ImageLoader load_image)
    : dataset_(dataset), tokenizer_(tokenizer), config_(config), image_tokens_(image_tokens),
      load_image_(std::move(load_image)) {}

text::Conversation SampleBuilder::conversation(size_t index) const {
  auto conversation = dataset_.conversation(index);
  if (conversation.images.size() > 1)
    throw text::SampleError("bad_fields",
                            cat("sample ", conversation.id, ": ", conversation.images.size(),
                                " images; v6 trains on one image per sample (model.family v7 takes several)"));
  if (config_.drop_empty_replies) {
    auto pieces = text::clean_conversation(conversation, /*max_rounds=*/0);
    conversation.turns = pieces.empty() ? std::vector<text::Turn>{} : pieces.front().turns;
  }
  return conversation;
}

text::RenderedSample SampleBuilder::render(size_t index, text::PromptStyle style) const {
  return text::render_conversation(conversation(index), style, tokenizer_);
}

void SampleBuilder::check_trainable(const text::RenderedSample& s, const std::string& id) const {
  const auto& ids = s.input_ids;
  const auto placeholder = std::find(ids.begin(), ids.end(), text::kImageToken);
  const bool has_image = placeholder != ids.end();
  const int64_t before = has_image ? placeholder - ids.begin() : 0;
  const int64_t K = image_tokens_, ctx = config_.ctx_len;
  if (has_image && before + K > ctx)
    throw text::SampleError("image_beyond_ctx_len", cat("sample ", id, ": ", before, " tokens before the image + ", K,
                                                        " image embeddings exceed ctx_len ", ctx));
  // The assembled sequence (with this sample's own prefix) and SPEC section 5's truncation rule;
  // a label at window position 0 is never predicted (the loss shifts by one).
  std::vector<int64_t> labels(s.labels.begin(), s.labels.begin() + before);
  labels.insert(labels.end(), K, text::kIgnoreIndex);
  labels.insert(labels.end(), s.labels.begin() + before + (has_image ? 1 : 0), s.labels.end());
  const int64_t L = labels.size();
  auto has_label = [&](int64_t from, int64_t to) {
    return std::any_of(labels.begin() + from, labels.begin() + to, [](int64_t l) { return l != text::kIgnoreIndex; });
  };
  int64_t start = 0;
  if (L > ctx && !has_label(0, ctx)) start = L - ctx;
  if (!has_label(std::min(L, start + 1), std::min(L, start + ctx)))
    throw text::SampleError("no_answer_after_truncation",
                            cat("sample ", id, ": no answer token left within ctx_len ", ctx, " (", L, " positions)"));
}

Sample SampleBuilder::build(size_t index) const {
  const auto conversation = this->conversation(index);
  auto rendered = text::render_conversation(conversation, config_.prompt_style, tokenizer_);
  check_trainable(rendered, conversation.id);
  Sample out{conversation.id, std::move(rendered.input_ids), std::move(rendered.labels), {}};
  if (conversation.has_image()) {
    const auto path = (std::filesystem::path(config_.image_folder) / conversation.image).string();
    if (!config_.image.synthetic && !std::filesystem::exists(path))
      throw text::SampleError("missing_image", cat("sample ", out.id, ": image file not found: ", path));
    out.image = load_image_(path);
  }
  return out;
}

Batch collate(std::vector<Sample> samples, int64_t image_size) {
  Batch b;
  const int64_t B = samples.size();
  int64_t T = 1;
  for (const auto& s : samples) T = std::max<int64_t>(T, s.input_ids.size());
  b.input_ids = torch::zeros({B, T}, torch::kInt64);
  b.labels = torch::full({B, T}, text::kIgnoreIndex, torch::kInt64);
  b.images = torch::zeros({B, 3, image_size, image_size}, torch::kFloat32);
  for (int64_t i = 0; i < B; ++i) {
    auto& s = samples[i];
    std::copy(s.input_ids.begin(), s.input_ids.end(), b.input_ids[i].data_ptr<int64_t>());
    std::copy(s.labels.begin(), s.labels.end(), b.labels[i].data_ptr<int64_t>());
    if (s.image.defined()) b.images[i].copy_(s.image);
    b.ids.push_back(std::move(s.id));
  }
  return b;
}

}  // namespace vrwkv::data
