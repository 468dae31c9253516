#include "model/generate.h"

#include <algorithm>

#include "base/error.h"
#include "model/recurrent.h"

namespace vrwkv {
namespace {

std::string remove_markers(std::string s) {
  const std::string marker = text::kImageMarker;
  for (size_t pos; (pos = s.find(marker)) != std::string::npos;) s.erase(pos, marker.size());
  return s;
}

// A uniform double in [0, 1) from the top 53 bits: unlike std::uniform_real_distribution, the same
// on every standard library.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

}  // namespace

bool cut_at_stop(const std::string& text, std::string* answer) {
  const auto pos = text.find(kStopSequence);
  if (pos == std::string::npos) return false;
  if (answer) *answer = text::py_strip(text.substr(0, pos));
  return true;
}

int64_t TokenSampler::next(const torch::Tensor& logits_in, double temperature, double top_p) {
  VRWKV_CHECK(logits_in.dim() == 1 && logits_in.numel() > 0, "sampler: logits must be [V], got ", logits_in.sizes());
  const auto logits = logits_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (temperature <= 0) return logits.argmax().item<int64_t>();
  VRWKV_CHECK(top_p > 0 && top_p <= 1, "sampler: top_p must be in (0, 1], got ", top_p);
  const auto probs = torch::softmax(logits / temperature, 0);
  const auto sorted = probs.sort(0, /*descending=*/true);
  const auto p = std::get<0>(sorted);
  const auto order = std::get<1>(sorted);
  const double* pp = p.data_ptr<double>();
  const int64_t V = p.numel();
  // The nucleus: the fewest leading tokens whose probability reaches top_p (at least one).
  int64_t keep = 0;
  double mass = 0;
  while (keep < V && (keep == 0 || mass < top_p)) mass += pp[keep++];
  // Inverse CDF over the kept tokens, renormalised by their mass.
  const double target = uniform01(rng_) * mass;
  double acc = 0;
  int64_t pick = keep - 1;
  for (int64_t i = 0; i < keep; ++i) {
    acc += pp[i];
    if (target < acc) {
      pick = i;
      break;
    }
  }
  return order[pick].item<int64_t>();
}

Decoded decode_tokens(const torch::Tensor& first_logits, const std::function<torch::Tensor(int64_t)>& next_logits,
                      const text::Tokenizer& tokenizer, const GenerateOptions& options) {
  TokenSampler sampler(options.seed);
  Decoded out;
  std::string text;
  torch::Tensor logits = first_logits;
  for (int64_t n = 0; n < options.max_new_tokens; ++n) {
    const int64_t id = sampler.next(logits, options.temperature, options.top_p);
    if (id == 0) {  // end of text in the World vocabulary (and never a piece of an answer)
      out.reason = StopReason::kEndOfText;
      break;
    }
    try {
      tokenizer.decode({id});
    } catch (const Error&) {  // an id of the head the vocabulary lacks: nothing more to say
      out.reason = StopReason::kUnknownToken;
      break;
    }
    out.ids.push_back(id);
    // The whole answer is decoded again: pieces may depend on their neighbours (sentencepiece).
    text = tokenizer.decode(out.ids);
    if (cut_at_stop(text, &out.answer)) {
      out.reason = StopReason::kStopSequence;
      return out;
    }
    if (n + 1 < options.max_new_tokens) logits = next_logits(id);
  }
  out.answer = text::py_strip(text);
  return out;
}

Generator::Generator(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
                     int64_t ctx_len)
    : model_(model), tokenizer_(tokenizer), mode_(mode), style_(style), ctx_len_(ctx_len) {
  model_->eval();
}

text::RenderedSample Generator::prompt(const std::string& question, bool with_image) const {
  // render_conversation moves the placeholder where the prompt style puts it, so its place here does
  // not matter; a question that already holds one keeps it.
  std::string value = remove_markers(question);
  if (with_image) value = std::string(text::kImageMarker) + "\n" + value;
  const text::Conversation conversation{"generate", with_image ? "image" : "", {{"human", value}}};
  auto out = text::render_conversation(conversation, style_, tokenizer_);
  // The assistant turn is tokenized on its own, as in training ("Assistant:" = 5585 41693 59).
  const auto assistant = tokenizer_.encode(kAssistantPrompt);
  out.text += kAssistantPrompt;
  out.input_ids.insert(out.input_ids.end(), assistant.begin(), assistant.end());
  out.labels.assign(out.input_ids.size(), text::kIgnoreIndex);
  return out;
}

std::string Generator::answer(const std::string& question, const torch::Tensor& image,
                              const GenerateOptions& options) {
  return generate(question, image, options).answer;
}

Decoded Generator::generate(const std::string& question, const torch::Tensor& image, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  const auto rendered = prompt(question, image.defined());
  const int64_t T = static_cast<int64_t>(rendered.input_ids.size());
  const auto input_ids = torch::tensor(rendered.input_ids, torch::kInt64).view({1, T});
  const auto labels = torch::full({1, T}, kIgnoreLabel, torch::kInt64);

  const auto& proj = model_->proj->weight;
  torch::Tensor features;
  if (image.defined()) {
    VRWKV_CHECK(image.dim() == 3, "generate: the image must be [3, S, S], got ", image.sizes());
    features = model_->encode_images(image.unsqueeze(0).to(proj.device()));
  } else {
    // A text-only sample reads K zero vectors where the image would be (SPEC section 5).
    features = torch::zeros({1, model_->config.image_tokens(), model_->config.n_embd}, proj.options());
  }
  const auto e = model_->embed(input_ids, labels, features, /*ctx_len=*/0);
  const int64_t L = e.embeds.size(1);
  VRWKV_CHECK(ctx_len_ <= 0 || L <= ctx_len_, "generate: the prompt takes ", L, " positions (", T,
              " tokens and the image), more than ctx_len ", ctx_len_);

  torch::Tensor logits;
  auto state = prefill(model_, e.embeds, mode_, e.layout.img_start, e.layout.img_end, &logits);
  const auto device = proj.device();
  return decode_tokens(
      logits[0],
      [&](int64_t id) { return step(model_, state, torch::full({1}, id, torch::dtype(torch::kInt64).device(device)))[0]; },
      tokenizer_, options);
}

}  // namespace vrwkv
