// A toy tokenizer (one id per character of a small alphabet) and a tiny VisualRWKV moved off its
// initial values, for tests of decoding: every weight matters and answers vary.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "model/visual_rwkv.h"
#include "text/tokenizer.h"
#include "tiny_model.h"

namespace vrwkv::test {

// Characters of the toy vocabulary, ids 1..27 (0 is end of text): enough for "User:", "Assistant:"
// and the questions below.
inline const std::string kAlphabet = "\n :.?ASUabcdefghilmnorstuwy";

class ToyTokenizer : public text::Tokenizer {
 public:
  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for (char c : text) {
      const auto pos = kAlphabet.find(c);
      VRWKV_CHECK(pos != std::string::npos, "toy tokenizer: no id for '", c, "'");
      ids.push_back(static_cast<int64_t>(pos) + 1);
    }
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) {
      VRWKV_CHECK(id >= 1 && id <= static_cast<int64_t>(kAlphabet.size()), "toy tokenizer: unknown id ", id);
      out += kAlphabet[id - 1];
    }
    return out;
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(kAlphabet.size()) + 1; }
};

inline ModelConfig toy_config() {
  auto c = tiny_model_config();
  c.vocab_size = static_cast<int64_t>(kAlphabet.size()) + 1;
  return c.resolved();
}

inline VisualRWKV noisy_model(torch::ScalarType type, uint64_t seed) {
  torch::manual_seed(seed);
  VisualRWKV model(toy_config());
  model->to(type);
  torch::NoGradGuard no_grad;
  // Off the initial values, so the decay LoRA, the shift mixes and u all matter.
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.2);
  model->eval();
  return model;
}

}  // namespace vrwkv::test
