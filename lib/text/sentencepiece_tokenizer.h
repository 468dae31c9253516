// A SentencePiece model (.model file) behind the Tokenizer interface. libsentencepiece is reached
// through a separately loaded module (see spm_shim.cpp for why).
#pragma once
#include <memory>
#include <string>

#include "text/tokenizer.h"

namespace vrwkv::text {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads `model_path`; throws vrwkv::Error naming the file when it cannot be loaded.
  explicit SentencePieceTokenizer(const std::string& model_path);
  ~SentencePieceTokenizer() override;

  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override;

 private:
  std::string path_;
  void* handle_ = nullptr;
  int64_t vocab_size_ = 0;
};

// Trains a sentencepiece model with its command-line style arguments ("--input=... --model_prefix=...").
void train_sentencepiece(const std::string& args);

}  // namespace vrwkv::text
