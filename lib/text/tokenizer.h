// Text tokenizers behind one interface: the RWKV World vocabulary and SentencePiece models.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vrwkv::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text` (taken as raw bytes; UTF-8 for the World vocabulary).
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // The text of `ids`; an id the vocabulary does not know throws vrwkv::Error.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // Number of ids the model's embedding must cover.
  virtual int64_t vocab_size() const = 0;
};

// kind "world": `path` is an RWKV World vocab file (rwkv_vocab_v20230424.txt);
// kind "sentencepiece": `path` is a SentencePiece .model file. Any other kind throws.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& path);

}  // namespace vrwkv::text
