// LLaVA conversations rendered into the text, token ids and labels the original trains on
// (SPEC section 7): the prompt styles image-first, image-last and sandwich.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "text/tokenizer.h"

namespace vrwkv::text {

inline constexpr int64_t kImageToken = -200;   // placeholder id in input_ids
inline constexpr int64_t kIgnoreIndex = -100;  // label that is not predicted
inline constexpr const char* kImageMarker = "<image>";

struct Turn {
  std::string from;   // "human" | "gpt"
  std::string value;
};

struct Conversation {
  std::string id;
  std::string image;  // relative path when the sample has exactly one image (v6 takes no more), else empty
  std::vector<Turn> turns;
  std::vector<std::string> images;  // every relative path in order ("image" as a string or a list; v7)
  bool has_image() const { return !image.empty(); }
};

enum class PromptStyle { kImageFirst, kImageLast, kSandwich };

// "image_first" | "image_last" | "sandwich" (also the fixtures' "first", "last", "middle").
PromptStyle prompt_style_from_string(const std::string& name);
std::string to_string(PromptStyle style);

// A sample that cannot be trained on. `reason` is a short stable code used to count skips.
class SampleError : public Error {
 public:
  SampleError(std::string reason, const std::string& what) : Error(what), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct RenderedSample {
  std::string text;
  std::vector<int64_t> input_ids;  // kImageToken marks the image
  std::vector<int64_t> labels;     // kIgnoreIndex where nothing is predicted
};

// Renders and tokenises one conversation. Throws SampleError for an empty conversation, an unknown
// speaker, more than one image placeholder, or an image without its placeholder (and vice versa).
RenderedSample render_conversation(const Conversation& conversation, PromptStyle style, const Tokenizer& tokenizer);

// VisualRWKV v7 (SPEC-v7 section 7): several images a sample, each K placeholder ids 65535 that the
// model overwrites in place; every sample exactly ctx_len ids long.
inline constexpr int64_t kV7ImageTokenId = 65535;  // the World tokenizer's ids stop at 65529
inline constexpr int64_t kV7PadId = 0;

struct V7Layout {
  int64_t tokens_per_image = 1024;  // K
  int64_t ctx_len = 2048;  // 0: the whole sample, neither cut nor padded
};

// Renders and tokenises one v7 sample with `images` image paths (0: text-only): every <image> of a
// human turn moves to its front, one per line ("<image>\n<image>\ntext"); "Speaker: value\n\n", or
// "Speaker:" for an empty value; each <image> becomes K ids 65535; labels: human turns (their image ids
// included) and the first 3 ids of each gpt turn ("Assistant:") are -100; the first ctx_len ids are
// kept, then right-padded with id 0 / label -100 to exactly ctx_len. Throws SampleError for an empty
// conversation, an unknown speaker, "image_count" (placeholders != images), "placeholder_in_reply"
// (an <image> in a gpt turn, which the original drops and then misaligns) and "image_truncated" (ctx_len
// would cut an image: the original keeps it and misaligns the rest of the batch).
RenderedSample render_conversation_v7(const Conversation& conversation, int64_t images, const V7Layout& layout,
                                      const Tokenizer& tokenizer);

// The original's optional clean-up of the 665K mix: rounds whose gpt reply is empty or missing are
// dropped; a conversation of more than max_rounds rounds (human + gpt) is split into pieces of at
// most max_rounds, each keeping the image (its first human turn gets the placeholder).
// max_rounds <= 0 disables splitting.
std::vector<Conversation> clean_conversation(const Conversation& conversation, int max_rounds);

// Text helpers with Python's semantics, exposed for tests.
std::string py_strip(const std::string& s);              // str.strip(): Unicode whitespace
std::string collapse_blank_lines(const std::string& s);  // re.sub(r"\n(\s*\n)+", "\n", s)

}  // namespace vrwkv::text
