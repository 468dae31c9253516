// Batched recurrent decoding: B questions, each with its own state, answered together.
//   1. the images of the batch go through the vision tower in one call;
//   2. each prompt is read as [text before the image | image span | text after]: the texts in
//      groups of equal length, the image spans (K positions each) of the whole batch in one parallel
//      pass, each row continuing from its own state;
//   3. one batched recurrent step per token for the questions still answering; a finished question
//      leaves the batch.
// Each row's arithmetic does not depend on the other rows, so greedy answers are the same at every
// batch size, and a sampled answer depends only on its request's seed.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "infer/generate.h"
#include "infer/question_decoder.h"

namespace vrwkv {

class BatchDecoder : public QuestionDecoder {
 public:
  // ctx_len > 0 rejects prompts (image included) longer than that. Puts the model in eval mode.
  BatchDecoder(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
               int64_t ctx_len);

  // The rendered prompt of a question (render_prompt in this decoder's style).
  text::RenderedSample prompt(const std::string& question, bool with_image) const {
    return render_prompt(question, with_image, style_, tokenizer_);
  }

  // Answers every request; options.seed is ignored (each request has its own).
  std::vector<DecodeResult> run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) override;

 private:
  VisualRWKV model_;
  const text::Tokenizer& tokenizer_;
  ScanMode mode_;
  text::PromptStyle style_;
  int64_t ctx_len_;
};

}  // namespace vrwkv
