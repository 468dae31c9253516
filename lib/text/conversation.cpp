#include "text/conversation.h"

#include <algorithm>

namespace vrwkv::text {
namespace {

constexpr const char* kShortAnswerPhrase = "Answer the question using a single word or phrase.";
constexpr int kAssistantPrefixTokens = 3;  // "Assistant:" = 5585 41693 59 in the World vocabulary

// Byte length of the whitespace character (as Python's str.isspace sees it) at s[pos], or 0.
size_t whitespace_at(const std::string& s, size_t pos) {
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
  auto byte = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0; };
  if (c == 0xc2 && (byte(pos + 1) == 0x85 || byte(pos + 1) == 0xa0)) return 2;            // U+0085, U+00A0
  if (c == 0xe1 && byte(pos + 1) == 0x9a && byte(pos + 2) == 0x80) return 3;              // U+1680
  if (c == 0xe2 && byte(pos + 1) == 0x80) {
    const auto b = byte(pos + 2);
    if ((b >= 0x80 && b <= 0x8a) || b == 0xa8 || b == 0xa9 || b == 0xaf) return 3;        // U+2000-200A, 2028, 2029, 202F
  }
  if (c == 0xe2 && byte(pos + 1) == 0x81 && byte(pos + 2) == 0x9f) return 3;              // U+205F
  if (c == 0xe3 && byte(pos + 1) == 0x80 && byte(pos + 2) == 0x80) return 3;              // U+3000
  return 0;
}

// Byte length of the whitespace character that ends at s[end - 1], or 0.
size_t whitespace_before(const std::string& s, size_t end) {
  for (size_t len = 1; len <= 3 && len <= end; ++len)
    if (whitespace_at(s, end - len) == len) return len;
  return 0;
}

std::string remove_all(std::string s, const std::string& what) {
  for (size_t pos; (pos = s.find(what)) != std::string::npos;) s.erase(pos, what.size());
  return s;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + what.size())) ++n;
  return n;
}

std::string speaker_name(const Conversation& c, const Turn& turn) {
  if (turn.from == "human") return "User";
  if (turn.from == "gpt") return "Assistant";
  throw SampleError("unknown_speaker", cat("sample ", c.id, ": unknown speaker '", turn.from,
                                           "' (expected \"human\" or \"gpt\")"));
}

// The question part of a sandwich prompt: every human turn, in order, joined with "\n".
std::string sandwich_question(const Conversation& c) {
  std::string q;
  bool first = true;
  for (const auto& turn : c.turns) {
    if (turn.from != "human") continue;
    std::string part;
    if (turn.value.find(kImageMarker) != std::string::npos) {
      part = py_strip(remove_all(turn.value, kImageMarker));
      part = collapse_blank_lines(py_strip(remove_all(part, kShortAnswerPhrase)));
    } else {
      part = py_strip(turn.value);
    }
    if (!first) q += "\n";
    q += part;
    first = false;
  }
  return q;
}

// Appends the tokens of `text`, with `copies` of `image_id` between the pieces around each marker
// (v6: one kImageToken; v7: K ids 65535).
void tokenize_with_image(const std::string& text, const Tokenizer& tokenizer, std::vector<int64_t>& out,
                         int64_t image_id = kImageToken, int64_t copies = 1) {
  size_t start = 0;
  for (size_t pos; (pos = text.find(kImageMarker, start)) != std::string::npos; start = pos + 7) {
    const auto piece = tokenizer.encode(std::string_view(text).substr(start, pos - start));
    out.insert(out.end(), piece.begin(), piece.end());
    out.insert(out.end(), copies, image_id);
  }
  const auto piece = tokenizer.encode(std::string_view(text).substr(start));
  out.insert(out.end(), piece.begin(), piece.end());
}

}  // namespace

std::string py_strip(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    const size_t n = whitespace_at(s, begin);
    if (!n) break;
    begin += n;
  }
  while (end > begin) {
    const size_t n = whitespace_before(s, end);
    if (!n) break;
    end -= n;
  }
  return s.substr(begin, end - begin);
}

std::string collapse_blank_lines(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '\n') {
      out += s[i++];
      continue;
    }
    // A newline: find the last newline reachable through whitespace only; all of it becomes "\n".
    size_t j = i + 1, last_newline = i;
    while (j < s.size()) {
      const size_t n = whitespace_at(s, j);
      if (!n) break;
      if (s[j] == '\n') last_newline = j;
      j += n;
    }
    out += '\n';
    i = last_newline + 1;
  }
  return out;
}

PromptStyle prompt_style_from_string(const std::string& name) {
  if (name == "image_first" || name == "first") return PromptStyle::kImageFirst;
  if (name == "image_last" || name == "last") return PromptStyle::kImageLast;
  if (name == "sandwich" || name == "middle") return PromptStyle::kSandwich;
  throw Error(cat("unknown prompt style '", name, "' (expected image_first, image_last or sandwich)"));
}

std::string to_string(PromptStyle style) {
  switch (style) {
    case PromptStyle::kImageFirst: return "image_first";
    case PromptStyle::kImageLast: return "image_last";
    case PromptStyle::kSandwich: return "sandwich";
  }
  return "?";
}

RenderedSample render_conversation(const Conversation& c, PromptStyle style, const Tokenizer& tokenizer) {
  if (c.turns.empty()) throw SampleError("empty_conversation", cat("sample ", c.id, ": empty conversation"));
  size_t markers = 0;
  for (const auto& turn : c.turns) markers += count_of(turn.value, kImageMarker);
  if (markers > 1)
    throw SampleError("multiple_placeholders", cat("sample ", c.id, ": ", markers, " <image> placeholders (one allowed)"));
  if (markers == 1 && !c.has_image())
    throw SampleError("placeholder_without_image", cat("sample ", c.id, ": <image> in the text but no \"image\" field"));
  if (markers == 0 && c.has_image())
    throw SampleError("image_without_placeholder", cat("sample ", c.id, ": an \"image\" but no <image> in the text"));

  RenderedSample out;
  for (const auto& turn : c.turns) {
    const std::string speaker = speaker_name(c, turn);
    std::string value;
    if (turn.value.find(kImageMarker) != std::string::npos) {
      value = collapse_blank_lines(py_strip(remove_all(turn.value, kImageMarker)));
      switch (style) {
        case PromptStyle::kImageFirst: value = std::string(kImageMarker) + "\n" + value; break;
        case PromptStyle::kImageLast: value = value + "\n" + kImageMarker; break;
        case PromptStyle::kSandwich:
          value = sandwich_question(c) + "\n" + kImageMarker + "\n" + value;
          break;
      }
      value = py_strip(value);
    } else {
      value = collapse_blank_lines(py_strip(turn.value));
    }
    const std::string rendered = speaker + ": " + value + "\n\n";
    const size_t first = out.input_ids.size();
    tokenize_with_image(rendered, tokenizer, out.input_ids);
    out.text += rendered;
    // Labels: nothing in a human turn; in a gpt turn everything after "Assistant:".
    for (size_t i = first; i < out.input_ids.size(); ++i) {
      const bool predicted = turn.from == "gpt" && i - first >= kAssistantPrefixTokens;
      out.labels.push_back(predicted ? out.input_ids[i] : kIgnoreIndex);
    }
  }
  return out;
}

RenderedSample render_conversation_v7(const Conversation& c, int64_t images, const V7Layout& layout,
                                      const Tokenizer& tokenizer) {
  VRWKV_CHECK(layout.tokens_per_image > 0 && layout.ctx_len >= 0, "v7 layout needs K > 0 and ctx_len >= 0, got K ",
              layout.tokens_per_image, ", ctx_len ", layout.ctx_len);
  if (c.turns.empty()) throw SampleError("empty_conversation", cat("sample ", c.id, ": empty conversation"));
  size_t markers = 0;
  for (const auto& turn : c.turns) {
    const size_t here = count_of(turn.value, kImageMarker);
    if (here > 0 && turn.from == "gpt")
      throw SampleError("placeholder_in_reply", cat("sample ", c.id, ": <image> in a gpt turn"));
    markers += here;
  }
  if (static_cast<int64_t>(markers) != images)
    throw SampleError("image_count", cat("sample ", c.id, ": ", markers, " <image> placeholders for ", images,
                                         images == 1 ? " image" : " images"));

  RenderedSample out;
  for (const auto& turn : c.turns) {
    const std::string speaker = speaker_name(c, turn);
    const size_t k = count_of(turn.value, kImageMarker);
    std::string value = collapse_blank_lines(py_strip(remove_all(turn.value, kImageMarker)));
    if (k > 0) {
      std::string front;
      for (size_t n = 0; n < k; ++n) front += std::string(n ? "\n" : "") + kImageMarker;
      value = py_strip(front + "\n" + value);
    }
    const std::string rendered = value.empty() ? speaker + ":" : speaker + ": " + value + "\n\n";
    const size_t first = out.input_ids.size();
    tokenize_with_image(rendered, tokenizer, out.input_ids, kV7ImageTokenId, layout.tokens_per_image);
    out.text += rendered;
    for (size_t i = first; i < out.input_ids.size(); ++i) {
      const bool predicted = turn.from == "gpt" && i - first >= kAssistantPrefixTokens;
      out.labels.push_back(predicted ? out.input_ids[i] : kIgnoreIndex);
    }
  }

  if (layout.ctx_len == 0) return out;  // the whole sample (validate-data's lengths)
  const auto ctx = static_cast<size_t>(layout.ctx_len);
  if (out.input_ids.size() > ctx) {
    const auto kept = std::count(out.input_ids.begin(), out.input_ids.begin() + layout.ctx_len, kV7ImageTokenId);
    if (kept != images * layout.tokens_per_image)
      throw SampleError("image_truncated", cat("sample ", c.id, ": ", out.input_ids.size(), " ids, ctx_len ", ctx,
                                               " would cut its images (", kept, " of ", images * layout.tokens_per_image,
                                               " image ids kept)"));
    out.input_ids.resize(ctx);
    out.labels.resize(ctx);
  }
  out.input_ids.resize(ctx, kV7PadId);
  out.labels.resize(ctx, kIgnoreIndex);
  return out;
}

std::vector<Conversation> clean_conversation(const Conversation& c, int max_rounds) {
  // Rounds: a human turn and the gpt reply that follows it; drop those whose reply is empty or missing.
  std::vector<std::pair<Turn, Turn>> rounds;
  for (size_t i = 0; i < c.turns.size(); ++i) {
    if (c.turns[i].from != "human") continue;
    const bool has_reply = i + 1 < c.turns.size() && c.turns[i + 1].from == "gpt";
    if (has_reply && !py_strip(c.turns[i + 1].value).empty()) rounds.emplace_back(c.turns[i], c.turns[i + 1]);
    if (has_reply) ++i;
  }
  // The placeholder may sit in a dropped round: keep the image by putting it in the first turn.
  const bool image_kept = std::any_of(rounds.begin(), rounds.end(), [](const auto& r) {
    return r.first.value.find(kImageMarker) != std::string::npos;
  });
  const size_t per_piece = max_rounds > 0 ? size_t(max_rounds) : std::max<size_t>(rounds.size(), 1);
  std::vector<Conversation> pieces;
  for (size_t start = 0; start < rounds.size(); start += per_piece) {
    Conversation piece{c.id, c.image, {}, c.images};
    if (start > 0) piece.id = cat(c.id, "#", start / per_piece);
    for (size_t r = start; r < std::min(rounds.size(), start + per_piece); ++r) {
      piece.turns.push_back(rounds[r].first);
      piece.turns.push_back(rounds[r].second);
    }
    if (c.has_image()) {
      bool has_marker = false;
      for (const auto& t : piece.turns) has_marker |= t.value.find(kImageMarker) != std::string::npos;
      if (!has_marker && (start > 0 || !image_kept))
        piece.turns.front().value = std::string(kImageMarker) + "\n" + piece.turns.front().value;
    }
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

}  // namespace vrwkv::text
