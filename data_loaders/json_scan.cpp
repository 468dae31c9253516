#include "json_scan.h"

#include <algorithm>
#include <cctype>

#include "base/error.h"

namespace vrwkv::data {
namespace {

class Scanner {
 public:
  Scanner(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  size_t pos = 0;

  void skip_space() {
    while (pos < s_.size() && (s_[pos] == ' ' || s_[pos] == '\n' || s_[pos] == '\r' || s_[pos] == '\t')) ++pos;
  }
  bool at_end() const { return pos >= s_.size(); }
  char peek() const { return pos < s_.size() ? s_[pos] : '\0'; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(cat(describe_position(s_, pos, file_), ": malformed JSON: ", what));
  }

  void expect(char c) {
    if (peek() != c) fail(at_end() ? cat("unexpected end of file, expected '", c, "'")
                                   : cat("expected '", c, "', found '", peek(), "'"));
    ++pos;
  }

  // One JSON value, validated. Depth is bounded to keep the stack safe on hostile input.
  void value(int depth = 0) {
    if (depth > 512) fail("nesting deeper than 512");
    skip_space();
    switch (peek()) {
      case '{': {
        ++pos;
        skip_space();
        if (peek() == '}') { ++pos; return; }
        for (;;) {
          skip_space();
          if (peek() != '"') fail(at_end() ? "unexpected end of file in an object" : "expected a string key");
          string();
          skip_space();
          expect(':');
          value(depth + 1);
          skip_space();
          if (peek() == ',') { ++pos; continue; }
          expect('}');
          return;
        }
      }
      case '[': {
        ++pos;
        skip_space();
        if (peek() == ']') { ++pos; return; }
        for (;;) {
          value(depth + 1);
          skip_space();
          if (peek() == ',') { ++pos; continue; }
          expect(']');
          return;
        }
      }
      case '"': string(); return;
      case 't': literal("true"); return;
      case 'f': literal("false"); return;
      case 'n': literal("null"); return;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        fail(at_end() ? "unexpected end of file, expected a value" : cat("unexpected character '", peek(), "'"));
    }
  }

 private:
  void string() {
    const size_t start = pos;
    ++pos;  // opening quote
    for (;;) {
      // The hot loop: jump to the next quote, backslash or control character.
      while (pos < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[pos]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++pos;
      }
      if (at_end()) { pos = start; fail("unterminated string"); }
      const char c = s_[pos];
      if (c == '"') { ++pos; return; }
      if (c != '\\') fail("control character inside a string");
      ++pos;
      const char e = peek();
      if (e == 'u') {
        for (int i = 1; i <= 4; ++i)
          if (pos + i >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[pos + i]))) fail("bad \\u escape");
        pos += 5;
      } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        ++pos;
      } else {
        fail("bad escape in a string");
      }
    }
  }

  void literal(const char* word) {
    const std::string_view w(word);
    if (s_.substr(pos, w.size()) != w) fail(cat("unexpected characters, expected '", word, "'"));
    pos += w.size();
  }

  void number() {
    auto digits = [&] {
      const size_t start = pos;
      while (pos < s_.size() && s_[pos] >= '0' && s_[pos] <= '9') ++pos;
      if (pos == start) fail("bad number");
    };
    if (peek() == '-') ++pos;
    if (peek() == '0') ++pos; else digits();
    if (peek() == '.') { ++pos; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++pos;
      if (peek() == '+' || peek() == '-') ++pos;
      digits();
    }
  }

  std::string_view s_;
  const std::string& file_;
};

}  // namespace

std::string describe_position(std::string_view text, uint64_t offset, const std::string& file) {
  offset = std::min<uint64_t>(offset, text.size());
  const auto line = 1 + std::count(text.begin(), text.begin() + offset, '\n');
  const auto line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  const uint64_t column = line_start == std::string_view::npos || offset == 0 ? offset + 1 : offset - line_start;
  return cat(file, ":", line, ":", column);
}

std::vector<ByteRange> scan_json_elements(std::string_view text, bool json_lines, const std::string& file) {
  Scanner sc(text, file);
  std::vector<ByteRange> out;
  if (json_lines) {
    while (!sc.at_end()) {
      sc.skip_space();
      if (sc.at_end()) break;
      const size_t start = sc.pos;
      sc.value();
      out.push_back({start, sc.pos - start});
      while (!sc.at_end() && (sc.peek() == ' ' || sc.peek() == '\t' || sc.peek() == '\r')) ++sc.pos;
      if (!sc.at_end() && sc.peek() != '\n') sc.fail("expected one JSON value per line");
    }
    return out;
  }
  sc.skip_space();
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") sc.pos = 3, sc.skip_space();  // UTF-8 BOM
  sc.expect('[');
  sc.skip_space();
  if (sc.peek() == ']') {
    ++sc.pos;
  } else {
    for (;;) {
      sc.skip_space();
      const size_t start = sc.pos;
      sc.value();
      out.push_back({start, sc.pos - start});
      sc.skip_space();
      if (sc.peek() == ',') { ++sc.pos; continue; }
      sc.expect(']');
      break;
    }
  }
  sc.skip_space();
  if (!sc.at_end()) sc.fail("unexpected data after the top-level array");
  return out;
}

}  // namespace vrwkv::data
