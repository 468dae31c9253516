// What a benchmark run asks of a decoder, whichever model family answers: a batch of questions,
// each with its image and its own sampling seed, in; each one's answer and prompt out. v6's
// BatchDecoder (infer/batch_decoder.h) and v7's Decoder7 (infer/generate7.h) implement it.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "infer/generate.h"
#include "model/vision_towers7.h"

namespace vrwkv {

struct DecodeRequest {
  std::string question;  // the human turn ("<image>" is placed by the prompt style)
  torch::Tensor image;   // [3, S, S] preprocessed pixels, or undefined for a text-only question
  uint64_t seed = 0;     // this question's sampling seed (unused when greedy)
  TowerPixels towers;    // v7: the question's image for the three towers (none: undefined tensors)
};

struct DecodeResult {
  Decoded decoded;
  std::string prompt;         // the rendered prompt text ("User: ...\n\nAssistant:")
  int64_t prompt_positions = 0;  // positions read before the answer (image included)
};

class QuestionDecoder {
 public:
  virtual ~QuestionDecoder() = default;
  // Answers every request; options.seed is ignored (each request has its own).
  virtual std::vector<DecodeResult> run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) = 0;
};

}  // namespace vrwkv
