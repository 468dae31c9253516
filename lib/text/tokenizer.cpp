// Factory for the tokenizer kinds named in configs and on the command line.
#include "text/tokenizer.h"

#include "base/error.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/world_tokenizer.h"

namespace vrwkv::text {

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& path) {
  if (kind == "world") return std::make_unique<WorldTokenizer>(path);
  if (kind == "sentencepiece") return std::make_unique<SentencePieceTokenizer>(path);
  throw Error(cat("unknown tokenizer kind '", kind, "' for ", path,
                  " (accepted kinds: world, sentencepiece)"));
}

}  // namespace vrwkv::text
