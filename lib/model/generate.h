// Answering a question about an image with a trained VisualRWKV: the prompt is rendered exactly as
// training renders a human turn (SPEC section 7) and ends with "Assistant:"; it is read once in
// parallel form, then the answer is decoded token by token in recurrent form (model/recurrent.h)
// until the turn's stop sequence "\n\n".
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
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
};

inline constexpr const char* kStopSequence = "\n\n";  // every turn ends with it (id 261 in World)
inline constexpr const char* kAssistantPrompt = "Assistant:";

// When `text` holds the stop sequence: sets *answer to the text before it, stripped, and returns true.
bool cut_at_stop(const std::string& text, std::string* answer);

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

struct Decoded {
  std::string answer;         // the text before the stop sequence, stripped
  std::vector<int64_t> ids;   // the tokens kept (the stop sequence included, token 0 excluded)
  StopReason reason = StopReason::kMaxTokens;
};

// The decoding loop, independent of the model: `first_logits` [V] are the prompt's last position;
// next_logits(id) reads the chosen token and returns the logits after it. Ends at the stop sequence
// in the decoded text, at token 0 (end of text), at a token the tokenizer cannot decode, or after
// max_new_tokens; next_logits is not called for the last token.
Decoded decode_tokens(const torch::Tensor& first_logits, const std::function<torch::Tensor(int64_t)>& next_logits,
                      const text::Tokenizer& tokenizer, const GenerateOptions& options);

class Generator {
 public:
  // ctx_len > 0 rejects prompts (image included) longer than the model was trained on.
  // Puts the model in eval mode.
  Generator(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
            int64_t ctx_len);

  // The prompt as training renders a conversation holding one human turn with the question (and
  // "<image>" when with_image), followed by "Assistant:". input_ids hold kImageToken for the image;
  // labels are all ignored.
  text::RenderedSample prompt(const std::string& question, bool with_image) const;

  // image: [3, S, S] preprocessed pixels, or undefined for a text-only question.
  std::string answer(const std::string& question, const torch::Tensor& image, const GenerateOptions& options);
  Decoded generate(const std::string& question, const torch::Tensor& image, const GenerateOptions& options);

 private:
  VisualRWKV model_;
  const text::Tokenizer& tokenizer_;
  ScanMode mode_;
  text::PromptStyle style_;
  int64_t ctx_len_;
};

}  // namespace vrwkv
