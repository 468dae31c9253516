// Answering with a trained VisualRWKV-7 (SPEC-v7 section 9, VisualRWKV.generate): the original's
// evaluation prompt, its K placeholder ids per image overwritten by the image tokens, read once from
// zeros (left-padded to a multiple of 16 with id 261, as training), then one recurrent step per new
// token until the stop sequence "\n\n" (id 261). The original re-runs the whole sequence for every
// token, and each re-run pads it anew to a multiple of 16, so its pads move as the answer grows; here
// the pads are those of the prompt alone, read once. The decoding rules (stop sequence, sampling)
// are v6's (infer/generate.h).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "infer/generate.h"
#include "infer/question_decoder.h"
#include "model/visual_rwkv7.h"
#include "text/tokenizer.h"

namespace vrwkv {

// get_input_text: "User: " + for each image K ids 65535 followed by "\n", then the question, "\n\n",
// "Assistant:". The text between images is tokenised piece by piece, as tokenize_with_image_token
// splits at each "<image>": "User: ", "\n" between two images, "\n" + question + "\n\nAssistant:" after
// the last. A "<image>" in the question is removed first.
std::vector<int64_t> v7_prompt_ids(const std::string& question, int64_t images, int64_t tokens_per_image,
                                   const text::Tokenizer& tokenizer);
// The same prompt as text, each image written "<image>" (for answer files).
std::string v7_prompt_text(const std::string& question, int64_t images);

// `visualrwkv eval`'s decoder for v7, batched as v6's BatchDecoder:
//   1. the prompts of equal length (so equal padding) read together from zeros, their images through
//      the towers in one call per group;
//   2. the groups' states joined into one batch, then one batched recurrent step per token for the
//      questions still answering (infer/generate.h: decode_batch); a finished question leaves the batch.
// Each row's arithmetic does not depend on the other rows, so greedy answers are those of one question
// at a time, and a sampled answer depends only on its request's seed.
class Decoder7 : public QuestionDecoder {
 public:
  // ctx_len > 0 rejects prompts longer than the model was trained on. Puts the model in eval mode.
  Decoder7(VisualRWKV7 model, const text::Tokenizer& tokenizer, int64_t ctx_len);
  std::vector<DecodeResult> run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) override;

 private:
  VisualRWKV7 model_;
  const text::Tokenizer& tokenizer_;
  int64_t ctx_len_;
};

// One question at a time, through Decoder7 (so its answers are the batched ones).
class Generator7 {
 public:
  Generator7(VisualRWKV7 model, const text::Tokenizer& tokenizer, int64_t ctx_len)
      : decoder_(std::move(model), tokenizer, ctx_len) {}

  // pixels: the question's images for the three towers (none: a text-only question).
  Decoded generate(const std::string& question, const TowerPixels& pixels, const GenerateOptions& options);
  std::string answer(const std::string& question, const TowerPixels& pixels, const GenerateOptions& options) {
    return generate(question, pixels, options).answer;
  }

 private:
  Decoder7 decoder_;
};

// The original's method (VisualRWKV.generate), the baseline bench_eval measures against: the image
// tokens made once, then for every new token the whole sequence embedded and read again from zeros
// (padded anew to a multiple of 16); greedy or sampled as `options` says.
Decoded decode_by_rerun7(VisualRWKV7& model, const text::Tokenizer& tokenizer, const std::string& question,
                         const TowerPixels& pixels, const GenerateOptions& options);

}  // namespace vrwkv
