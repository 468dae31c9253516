#include "infer/batch_decoder.h"

#include <map>

#include "base/error.h"
#include "infer/recurrent.h"

namespace vrwkv {
namespace {

torch::Tensor index_tensor(const std::vector<int64_t>& rows) {
  return torch::tensor(rows, torch::kInt64);
}

// One prompt, assembled as training assembles a sample on its own (SPEC section 5), cut into the
// text before the image span, the span (K positions) and the text after it.
struct PromptParts {
  torch::Tensor embeds;  // [L, C]
  int64_t span_start = 0;
};

// Reads, for the rows of each group of equal length, positions [from(r), from(r) + length) of their
// embeddings as one chunk continuing from their own states; when last_logits is given, records each
// row's last logits there (the text before the image needs none: the head would be wasted work).
void read_text_groups(VisualRWKV& model, RecurrentState& state, const std::vector<PromptParts>& parts,
                      const std::vector<int64_t>& from, const std::vector<int64_t>& length, ScanMode mode,
                      torch::Tensor* last_logits) {
  std::map<int64_t, std::vector<int64_t>> groups;
  for (size_t r = 0; r < parts.size(); ++r)
    if (length[r] > 0) groups[length[r]].push_back(static_cast<int64_t>(r));
  for (const auto& [len, rows] : groups) {
    std::vector<torch::Tensor> x;
    for (int64_t r : rows) x.push_back(parts[r].embeds.narrow(0, from[r], len));
    const auto idx = index_tensor(rows);
    auto sub = select_rows(state, idx);
    torch::Tensor logits;
    read_chunk(model, sub, torch::stack(x), mode, 0, 0, last_logits ? &logits : nullptr);
    put_rows(state, idx, sub);
    if (last_logits) last_logits->index_copy_(0, idx.to(logits.device()), logits);
  }
}

}  // namespace

BatchDecoder::BatchDecoder(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode,
                           text::PromptStyle style, int64_t ctx_len)
    : model_(model), tokenizer_(tokenizer), mode_(mode), style_(style), ctx_len_(ctx_len) {
  model_->eval();
}

std::vector<DecodeResult> BatchDecoder::run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(requests.size());
  std::vector<DecodeResult> results(requests.size());
  if (B == 0) return results;
  const auto& proj = model_->proj->weight;
  const auto device = proj.device();
  const int64_t K = model_->config.image_tokens(), C = model_->config.n_embd;

  // --- 1. the images of the batch in one vision call -----------------------------------------
  std::vector<torch::Tensor> images;
  std::vector<int64_t> image_row(requests.size(), -1);
  for (int64_t i = 0; i < B; ++i) {
    const auto& image = requests[i].image;
    if (!image.defined()) continue;
    VRWKV_CHECK(image.dim() == 3, "generate: the image must be [3, S, S], got ", image.sizes());
    image_row[i] = static_cast<int64_t>(images.size());
    images.push_back(image);
  }
  torch::Tensor features;
  if (!images.empty()) features = model_->encode_images(torch::stack(images).to(device));

  // --- 2. prompts: text before the image, the image spans together, text after ----------------
  std::vector<PromptParts> parts(requests.size());
  std::vector<int64_t> zero(requests.size(), 0), before(requests.size()), after_from(requests.size()),
      after(requests.size());
  for (int64_t i = 0; i < B; ++i) {
    const bool with_image = image_row[i] >= 0;
    const auto rendered = render_prompt(requests[i].question, with_image, style_, tokenizer_);
    const int64_t T = static_cast<int64_t>(rendered.input_ids.size());
    const auto input_ids = torch::tensor(rendered.input_ids, torch::kInt64).view({1, T});
    const auto labels = torch::full({1, T}, kIgnoreLabel, torch::kInt64);
    // A text-only question reads K zero vectors where the image would be (SPEC section 5).
    const auto f = with_image ? features.narrow(0, image_row[i], 1) : torch::zeros({1, K, C}, proj.options());
    const auto e = model_->embed(input_ids, labels, f, /*ctx_len=*/0);
    const int64_t L = e.embeds.size(1);
    VRWKV_CHECK(ctx_len_ <= 0 || L <= ctx_len_, "generate: the prompt takes ", L, " positions (", T,
                " tokens and the image), more than ctx_len ", ctx_len_);
    VRWKV_CHECK(e.layout.img_end - e.layout.img_start == K - 1 && e.layout.img_start + K <= L,
                "generate: unexpected image span [", e.layout.img_start, ", ", e.layout.img_end, "] of ", L);
    parts[i] = {e.embeds[0], e.layout.img_start};
    before[i] = e.layout.img_start;
    after_from[i] = e.layout.img_start + K;
    after[i] = L - after_from[i];
    results[i].prompt = rendered.text;
    results[i].prompt_positions = L;
  }

  RecurrentState state = RecurrentState::zeros(model_, B);
  read_text_groups(model_, state, parts, zero, before, mode_, nullptr);
  // The span excludes its last embedding (the cls), as in training. Its logits are the answer's
  // first for a row with no text after the image; the text after overwrites the others.
  std::vector<torch::Tensor> spans;
  for (const auto& p : parts) spans.push_back(p.embeds.narrow(0, p.span_start, K));
  torch::Tensor logits;
  read_chunk(model_, state, torch::stack(spans), mode_, 0, K - 1, &logits);
  read_text_groups(model_, state, parts, after_from, after, mode_, &logits);

  // --- 3. one batched step per token for the questions still answering -----------------------
  std::vector<uint64_t> seeds;
  for (const auto& r : requests) seeds.push_back(r.seed);
  const auto answers = decode_batch(
      logits, seeds,
      [&](const std::vector<int64_t>& rows, const std::vector<int64_t>& ids, bool shrunk) {
        if (shrunk) state = select_rows(state, index_tensor(rows));
        return step(model_, state, index_tensor(ids).to(device));
      },
      tokenizer_, options);
  for (int64_t i = 0; i < B; ++i) results[i].decoded = answers[i];
  return results;
}

}  // namespace vrwkv
