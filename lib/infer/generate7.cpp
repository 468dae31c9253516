#include "infer/generate7.h"

#include "base/error.h"
#include "model/image_placement.h"

namespace vrwkv {

namespace {

std::string without_markers(std::string q) {
  for (size_t at; (at = q.find(text::kImageMarker)) != std::string::npos;)
    q.erase(at, std::string(text::kImageMarker).size());
  return q;
}

// The logits [V] of the last position of `hidden` (ln_out's states [1, T, C]), float32 on the CPU.
torch::Tensor last_logits(VisualRWKV7& model, const torch::Tensor& hidden) {
  return model->rwkv->head(hidden.select(1, hidden.size(1) - 1))[0].to(torch::kFloat32).cpu();
}

}  // namespace

std::string v7_prompt_text(const std::string& question, int64_t images) {
  std::string out = "User: ";
  for (int64_t n = 0; n < images; ++n) out += std::string(text::kImageMarker) + "\n";
  return out + without_markers(question) + "\n\n" + kAssistantPrompt;
}

std::vector<int64_t> v7_prompt_ids(const std::string& question, int64_t images, int64_t K,
                                   const text::Tokenizer& tokenizer) {
  const std::string q = without_markers(question);
  std::vector<int64_t> ids;
  auto text = [&](const std::string& s) {
    const auto piece = tokenizer.encode(s);
    ids.insert(ids.end(), piece.begin(), piece.end());
  };
  text("User: ");
  for (int64_t n = 0; n < images; ++n) {
    ids.insert(ids.end(), K, kV7ImagePlaceholderId);
    if (n + 1 < images) text("\n");
  }
  text(std::string(images > 0 ? "\n" : "") + q + "\n\n" + kAssistantPrompt);
  return ids;
}

Generator7::Generator7(VisualRWKV7 model, const text::Tokenizer& tokenizer, int64_t ctx_len)
    : model_(std::move(model)), tokenizer_(tokenizer), ctx_len_(ctx_len) {
  model_->eval();
}

Decoded Generator7::generate(const std::string& question, const TowerPixels& pixels, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  const auto& weight = model_->rwkv->emb->weight;
  const auto device = weight.device();
  const int64_t images = image_count(pixels);
  const auto ids = v7_prompt_ids(question, images, model_->config.tokens_per_image, tokenizer_);
  VRWKV_CHECK(ctx_len_ <= 0 || int64_t(ids.size()) <= ctx_len_, "the prompt has ", ids.size(),
              " ids (its images included), more than ctx_len ", ctx_len_);
  const auto tokens = model_->encode_images(pixels);
  const auto embeds = model_->embed(torch::tensor(ids, torch::kInt64).view({1, -1}), tokens);
  std::vector<LayerState> states(model_->rwkv->blocks->size());
  const auto first = last_logits(model_, model_->rwkv->forward_hidden(embeds, &states, /*fresh=*/true));
  return decode_tokens(
      first,
      [&](int64_t id) {
        const auto x = model_->rwkv->emb(torch::tensor({id}, torch::kInt64).to(device)).view({1, 1, -1});
        return last_logits(model_, model_->rwkv->forward_hidden(x, &states, /*fresh=*/false));
      },
      tokenizer_, options);
}

Decoded decode_by_rerun7(VisualRWKV7& model, const text::Tokenizer& tokenizer, const std::string& question,
                         const TowerPixels& pixels, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto tokens = model->encode_images(pixels);
  auto ids = v7_prompt_ids(question, image_count(pixels), model->config.tokens_per_image, tokenizer);
  auto logits_after = [&]() {
    const auto embeds = model->embed(torch::tensor(ids, torch::kInt64).view({1, -1}), tokens);
    return last_logits(model, model->rwkv->forward_hidden(embeds));
  };
  return decode_tokens(
      logits_after(),
      [&](int64_t id) {
        ids.push_back(id);
        return logits_after();
      },
      tokenizer, options);
}

int64_t Generator7::prompt_length(const std::string& question, int64_t images) const {
  return static_cast<int64_t>(v7_prompt_ids(question, images, model_->config.tokens_per_image, tokenizer_).size());
}

std::vector<DecodeResult> Decoder7::run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) {
  std::vector<DecodeResult> out;
  for (const auto& r : requests) {
    GenerateOptions own = options;
    own.seed = r.seed;
    const int64_t images = image_count(r.towers);
    out.push_back({generator_.generate(r.question, r.towers, own), v7_prompt_text(r.question, images),
                   generator_.prompt_length(r.question, images)});
  }
  return out;
}

std::string Generator7::answer(const std::string& question, const TowerPixels& pixels, const GenerateOptions& options) {
  return generate(question, pixels, options).answer;
}

}  // namespace vrwkv
