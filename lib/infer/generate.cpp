#include "infer/generate.h"

#include <algorithm>
#include <numeric>

#include "base/error.h"
#include "infer/batch_decoder.h"
#include "infer/recurrent.h"

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

std::string to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kStopSequence: return "stop_sequence";
    case StopReason::kEndOfText: return "end_of_text";
    case StopReason::kUnknownToken: return "unknown_token";
    case StopReason::kMaxTokens: return "max_tokens";
  }
  return "?";
}

text::RenderedSample render_prompt(const std::string& question, bool with_image, text::PromptStyle style,
                                   const text::Tokenizer& tokenizer) {
  // render_conversation moves the placeholder where the prompt style puts it, so its place here does
  // not matter.
  std::string value = remove_markers(question);
  if (with_image) value = std::string(text::kImageMarker) + "\n" + value;
  const text::Conversation conversation{"generate", with_image ? "image" : "", {{"human", value}}};
  auto out = text::render_conversation(conversation, style, tokenizer);
  // The assistant turn is tokenized on its own, as in training ("Assistant:" = 5585 41693 59).
  const auto assistant = tokenizer.encode(kAssistantPrompt);
  out.text += kAssistantPrompt;
  out.input_ids.insert(out.input_ids.end(), assistant.begin(), assistant.end());
  out.labels.assign(out.input_ids.size(), text::kIgnoreIndex);
  return out;
}

bool AnswerBuilder::add(int64_t id, double logit, double prob) {
  VRWKV_CHECK(!done_, "AnswerBuilder: the answer is already complete");
  ++out_.chosen;
  logit_sum_ += logit;
  prob_sum_ += prob;
  const bool last = out_.chosen >= options_.max_new_tokens;
  auto finish = [&](StopReason reason) {
    out_.reason = reason;
    done_ = true;
    return true;
  };
  if (id == 0 && !options_.ignore_stops) return finish(StopReason::kEndOfText);  // end of text in World
  try {
    tokenizer_.decode({id});
  } catch (const Error&) {  // an id of the head the vocabulary lacks: nothing more to say
    if (!options_.ignore_stops) return finish(StopReason::kUnknownToken);
    return last ? finish(StopReason::kMaxTokens) : false;
  }
  out_.ids.push_back(id);
  // The whole answer is decoded again: pieces may depend on their neighbours (sentencepiece).
  text_ = tokenizer_.decode(out_.ids);
  if (!options_.ignore_stops && cut_at_stop(text_, &out_.answer)) return finish(StopReason::kStopSequence);
  return last ? finish(StopReason::kMaxTokens) : false;
}

Decoded AnswerBuilder::result() const {
  Decoded d = out_;
  // Without a stop sequence (or past it, under ignore_stops) the answer is the text before it, if any.
  if (d.reason != StopReason::kStopSequence && !cut_at_stop(text_, &d.answer)) d.answer = text::py_strip(text_);
  d.avg_logit = d.chosen ? logit_sum_ / double(d.chosen) : 0.0;
  d.avg_prob = d.chosen ? prob_sum_ / double(d.chosen) : 0.0;
  return d;
}

Decoded decode_tokens(const torch::Tensor& first_logits, const std::function<torch::Tensor(int64_t)>& next_logits,
                      const text::Tokenizer& tokenizer, const GenerateOptions& options) {
  TokenSampler sampler(options.seed);
  AnswerBuilder answer(tokenizer, options);
  torch::Tensor logits = first_logits;
  if (options.max_new_tokens <= 0) return answer.result();
  while (true) {
    const int64_t id = sampler.next(logits, options.temperature, options.top_p);
    const auto l = logits.detach().to(torch::kCPU, torch::kFloat64);
    if (answer.add(id, l[id].item<double>(), torch::softmax(l, 0)[id].item<double>())) break;
    logits = next_logits(id);
  }
  return answer.result();
}

std::vector<Decoded> decode_batch(const torch::Tensor& first_logits, const std::vector<uint64_t>& seeds,
                                  const NextBatchLogits& next, const text::Tokenizer& tokenizer,
                                  const GenerateOptions& options) {
  const int64_t B = static_cast<int64_t>(seeds.size());
  VRWKV_CHECK(first_logits.dim() == 2 && first_logits.size(0) == B, "decode_batch: logits ", first_logits.sizes(),
              " for ", B, " seeds");
  std::vector<AnswerBuilder> answers;
  std::vector<TokenSampler> samplers;
  for (const auto seed : seeds) {
    answers.emplace_back(tokenizer, options);
    samplers.emplace_back(seed);
  }
  std::vector<int64_t> active(B);  // the sequence of each row of the logits
  std::iota(active.begin(), active.end(), 0);
  const bool greedy = options.temperature <= 0;
  torch::Tensor logits = first_logits;
  while (options.max_new_tokens > 0 && !active.empty()) {
    const int64_t n = static_cast<int64_t>(active.size());
    torch::Tensor chosen;  // [n] token ids
    if (greedy) {
      chosen = logits.argmax(1);
    } else {
      const auto host = logits.to(torch::kCPU);
      std::vector<int64_t> picked(n);
      for (int64_t j = 0; j < n; ++j) picked[j] = samplers[active[j]].next(host[j], options.temperature, options.top_p);
      chosen = torch::tensor(picked, torch::kInt64).to(logits.device());
    }
    // The picked tokens' logits and probabilities, copied to the host with the ids in one transfer.
    const auto lf = logits.to(torch::kFloat32);
    const auto logit = lf.gather(1, chosen.unsqueeze(1)).squeeze(1);
    const auto prob = torch::exp(logit - torch::logsumexp(lf, 1));
    const auto host = torch::stack({chosen.to(torch::kFloat64), logit.to(torch::kFloat64), prob.to(torch::kFloat64)})
                          .to(torch::kCPU);
    const auto h = host.accessor<double, 2>();
    std::vector<int64_t> keep_rows, keep_ids, still;
    for (int64_t j = 0; j < n; ++j) {
      const auto id = static_cast<int64_t>(h[0][j]);
      if (!answers[active[j]].add(id, h[1][j], h[2][j])) {
        keep_rows.push_back(j);
        keep_ids.push_back(id);
        still.push_back(active[j]);
      }
    }
    if (keep_rows.empty()) break;
    active.swap(still);
    logits = next(keep_rows, keep_ids, static_cast<int64_t>(keep_rows.size()) < n);
  }
  std::vector<Decoded> out;
  for (const auto& a : answers) out.push_back(a.result());
  return out;
}

Generator::Generator(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
                     int64_t ctx_len)
    : decoder_(std::make_unique<BatchDecoder>(model, tokenizer, mode, style, ctx_len)) {}

Generator::~Generator() = default;

text::RenderedSample Generator::prompt(const std::string& question, bool with_image) const {
  return decoder_->prompt(question, with_image);
}

std::string Generator::answer(const std::string& question, const torch::Tensor& image,
                              const GenerateOptions& options) {
  return generate(question, image, options).answer;
}

Decoded Generator::generate(const std::string& question, const torch::Tensor& image, const GenerateOptions& options) {
  return decoder_->run({{question, image, options.seed}}, options).at(0).decoded;
}

}  // namespace vrwkv
