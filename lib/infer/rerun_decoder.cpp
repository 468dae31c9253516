#include "infer/rerun_decoder.h"

namespace vrwkv {

Decoded decode_by_rerun(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
                        const std::string& question, const torch::Tensor& image, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto& proj = model->proj->weight;
  auto ids = render_prompt(question, image.defined(), style, tokenizer).input_ids;
  // The image features are computed once (the vision tower's share is the same for both methods).
  const auto features = image.defined()
                            ? model->encode_images(image.unsqueeze(0).to(proj.device()))
                            : torch::zeros({1, model->config.image_tokens(), model->config.n_embd}, proj.options());
  auto last_logits = [&]() {
    const int64_t T = static_cast<int64_t>(ids.size());
    const auto e = model->embed(torch::tensor(ids, torch::kInt64).view({1, T}),
                                torch::full({1, T}, kIgnoreLabel, torch::kInt64), features, /*ctx_len=*/0);
    const auto logits = model->forward_embeds(e.embeds, mode, e.layout.img_start, e.layout.img_end);
    return logits[0][logits.size(1) - 1];
  };
  return decode_tokens(
      last_logits(),
      [&](int64_t id) {
        ids.push_back(id);
        return last_logits();
      },
      tokenizer, options);
}

}  // namespace vrwkv
