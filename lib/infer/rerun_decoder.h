// The original evaluator's way to decode: for every new token the whole sequence (image, prompt and
// the answer so far) is read again in parallel form. Quadratic in the answer's length; kept as the
// reference the recurrent decoders are tested against and as the baseline bench_eval measures.
#pragma once
#include "infer/generate.h"

namespace vrwkv {

// image: [3, S, S] preprocessed pixels, or undefined for a text-only question.
Decoded decode_by_rerun(VisualRWKV& model, const text::Tokenizer& tokenizer, ScanMode mode, text::PromptStyle style,
                        const std::string& question, const torch::Tensor& image, const GenerateOptions& options);

}  // namespace vrwkv
