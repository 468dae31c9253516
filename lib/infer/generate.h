// Answering questions with a trained VisualRWKV: the prompt is rendered exactly as training renders
// a human turn (SPEC section 7) and ends with "Assistant:"; the answer is decoded token by token in
// recurrent form (infer/recurrent.h) until the turn's stop sequence "\n\n". The batched decoder
// (infer/batch_decoder.h) does the work; Generator answers one question at a time with it.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/sequence.h"
#include "model/visual_rwkv.h"
#include "text/conversation.h"
#include "text/tokenizer.h"

namespace vrwkv {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0;  // 0: greedy
  double top_p = 1.0;
  uint64_t seed = 0;
  bool ignore_stops = false;  // benchmarks only: always decode max_new_tokens
};

inline constexpr const char* kStopSequence = "\n\n";  // every turn ends with it (id 261 in World)
inline constexpr const char* kAssistantPrompt = "Assistant:";

// When `text` holds the stop sequence: sets *answer to the text before it, stripped, and returns true.
bool cut_at_stop(const std::string& text, std::string* answer);

// The prompt as training renders a conversation holding one human turn with the question (and
// "<image>" when with_image), followed by "Assistant:". input_ids hold kImageToken for the image;
// labels are all ignored. A "<image>" already in the question is removed first.
text::RenderedSample render_prompt(const std::string& question, bool with_image, text::PromptStyle style,
                                   const text::Tokenizer& tokenizer);

// Picks tokens from logits, reproducibly for a seed.
class TokenSampler {
 public:
  explicit TokenSampler(uint64_t seed) : rng_(seed) {}
  // logits [V]: the arg-max when temperature <= 0; else a draw from softmax(logits / temperature)
  // restricted to the nucleus, the fewest most likely tokens whose probability reaches top_p.
  int64_t next(const torch::Tensor& logits, double temperature, double top_p);

 private:
  std::mt19937_64 rng_;  // fixed algorithm: the same draws on every platform
};

enum class StopReason { kStopSequence, kEndOfText, kUnknownToken, kMaxTokens };
std::string to_string(StopReason reason);

struct Decoded {
  std::string answer;         // the text before the stop sequence, stripped
  std::vector<int64_t> ids;   // the tokens kept (the stop sequence included, token 0 excluded)
  StopReason reason = StopReason::kMaxTokens;
  int64_t chosen = 0;         // tokens picked, the one that ended the answer included
  double avg_logit = 0;       // mean logit of the picked tokens
  double avg_prob = 0;        // mean probability (softmax at temperature 1) of the picked tokens
};

// The stop rules of one answer, fed one picked token at a time: ends at the stop sequence in the
// decoded text, at token 0 (end of text), at a token the tokenizer cannot decode, or after
// max_new_tokens (ignore_stops: only the last).
class AnswerBuilder {
 public:
  AnswerBuilder(const text::Tokenizer& tokenizer, const GenerateOptions& options)
      : tokenizer_(tokenizer), options_(options) {}
  // Takes the picked token with its logit and probability; returns true when the answer is complete.
  bool add(int64_t id, double logit, double prob);
  bool done() const { return done_; }
  // The answer so far (complete once done()).
  Decoded result() const;

 private:
  const text::Tokenizer& tokenizer_;
  GenerateOptions options_;
  Decoded out_;
  std::string text_;
  double logit_sum_ = 0, prob_sum_ = 0;
  bool done_ = false;
};

// The decoding loop of one sequence, independent of the model: `first_logits` [V] are the prompt's
// last position; next_logits(id) reads the chosen token and returns the logits after it (not called
// after the last token).
Decoded decode_tokens(const torch::Tensor& first_logits, const std::function<torch::Tensor(int64_t)>& next_logits,
                      const text::Tokenizer& tokenizer, const GenerateOptions& options);

// The decoding loop of a batch of sequences, independent of the model: `first_logits` [B, V] (on any
// device) are the prompts' last positions; row b samples with TokenSampler(seeds[b]). Each round picks
// one token per row still answering (greedy: the arg-max on the logits' device), copies the ids and
// their logits and probabilities to the host in one transfer, and calls next(rows, ids, shrunk): keep
// only `rows` (ascending indices into the previous round's rows; shrunk: some finished, so rows is not
// all of them) and read `ids`, one per kept row; it returns their logits [rows, V]. Returns row b's
// answer at b.
using NextBatchLogits = std::function<torch::Tensor(const std::vector<int64_t>& rows, const std::vector<int64_t>& ids,
                                                    bool shrunk)>;
std::vector<Decoded> decode_batch(const torch::Tensor& first_logits, const std::vector<uint64_t>& seeds,
                                  const NextBatchLogits& next, const text::Tokenizer& tokenizer,
                                  const GenerateOptions& options);

class BatchDecoder;  // infer/batch_decoder.h

// One question at a time, through the batched decoder (so its answers are the batched ones).
class Generator {
 public:
  // ctx_len > 0 rejects prompts (image included) longer than the model was trained on.
  // Puts the model in eval mode.
  Generator(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
            int64_t ctx_len);
  ~Generator();

  text::RenderedSample prompt(const std::string& question, bool with_image) const;

  // image: [3, S, S] preprocessed pixels, or undefined for a text-only question.
  std::string answer(const std::string& question, const torch::Tensor& image, const GenerateOptions& options);
  Decoded generate(const std::string& question, const torch::Tensor& image, const GenerateOptions& options);

 private:
  std::unique_ptr<BatchDecoder> decoder_;
};

}  // namespace vrwkv
