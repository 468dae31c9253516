// World vocabulary loading (Python literal parsing) and the trie used for fast greedy encoding.
#include "text/world_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "base/error.h"
#include "base/utf8.h"

namespace vrwkv::text {
namespace {

// Fan-outs above this get a 256-wide direct table; smaller ones are scanned.
constexpr uint16_t kDenseThreshold = 12;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses one Python str or bytes literal starting at s[pos]; advances pos past the closing quote.
// Returns the literal's bytes (a str as UTF-8). On failure returns false with a reason in `err`.
bool parse_python_literal(std::string_view s, std::size_t& pos, std::string& out, std::string& err) {
  out.clear();
  bool is_bytes = false;
  if (pos < s.size() && (s[pos] == 'b' || s[pos] == 'B')) {
    is_bytes = true;
    ++pos;
  }
  if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"')) {
    err = "expected a Python str or bytes literal";
    return false;
  }
  const char quote = s[pos++];
  // A code point from an escape: raw byte in bytes literals, UTF-8 in str literals.
  auto put = [&](uint32_t value) -> bool {
    if (is_bytes) {
      if (value > 0xFF) {
        err = "escape value above 0xff in a bytes literal";
        return false;
      }
      out += static_cast<char>(value);
      return true;
    }
    if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      err = cat("escape value 0x", std::hex, value, " is not a valid code point");
      return false;
    }
    append_utf8(out, value);
    return true;
  };
  auto read_hex = [&](int digits, uint32_t& value) -> bool {
    value = 0;
    for (int i = 0; i < digits; ++i) {
      const int h = pos < s.size() ? hex_value(s[pos]) : -1;
      if (h < 0) {
        err = cat("truncated \\x/\\u/\\U escape (need ", digits, " hex digits)");
        return false;
      }
      value = value * 16 + static_cast<uint32_t>(h);
      ++pos;
    }
    return true;
  };
  while (true) {
    if (pos >= s.size()) {
      err = "unterminated literal";
      return false;
    }
    const char c = s[pos++];
    if (c == quote) return true;
    if (c != '\\') {
      if (is_bytes && static_cast<unsigned char>(c) >= 0x80) {
        err = "non-ASCII character in a bytes literal";
        return false;
      }
      out += c;
      continue;
    }
    if (pos >= s.size()) {
      err = "unterminated literal (backslash at end of line)";
      return false;
    }
    const char e = s[pos++];
    uint32_t value = 0;
    switch (e) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
        if (!read_hex(2, value) || !put(value)) return false;
        break;
      case 'u':
      case 'U':
        if (is_bytes) {  // not an escape in bytes literals: Python keeps it verbatim
          out += '\\';
          out += e;
          break;
        }
        if (!read_hex(e == 'u' ? 4 : 8, value) || !put(value)) return false;
        break;
      case 'N':
        if (is_bytes) {
          out += "\\N";
          break;
        }
        err = "\\N{...} escapes are not supported";
        return false;
      default:
        if (e >= '0' && e <= '7') {  // octal: up to three digits
          value = static_cast<uint32_t>(e - '0');
          for (int i = 0; i < 2 && pos < s.size() && s[pos] >= '0' && s[pos] <= '7'; ++i)
            value = value * 8 + static_cast<uint32_t>(s[pos++] - '0');
          if (!put(value)) return false;
        } else {  // unknown escape: Python keeps the backslash
          out += '\\';
          out += e;
        }
    }
  }
}

bool parse_uint(std::string_view s, std::size_t& pos, uint64_t& value) {
  const std::size_t start = pos;
  value = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 12)
    value = value * 10 + static_cast<uint64_t>(s[pos++] - '0');
  return pos > start && !(pos < s.size() && s[pos] >= '0' && s[pos] <= '9');
}

void skip_blanks(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
}

// Temporary trie used while loading; flattened into the compact arrays afterwards.
struct BuildNode {
  int32_t token = 0;
  std::map<uint8_t, int32_t> kids;
};

}  // namespace

WorldTokenizer::WorldTokenizer(const std::string& vocab_path) : path_(vocab_path) {
  std::ifstream in(vocab_path, std::ios::binary);
  VRWKV_CHECK(in, "vocab file ", vocab_path, ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string content = buffer.str();

  struct Entry {
    int64_t id;
    std::size_t line;
    std::string bytes;
  };
  std::vector<Entry> entries;
  entries.reserve(70000);
  std::unordered_map<int64_t, std::size_t> line_of_id;
  line_of_id.reserve(70000);
  std::string bytes, err;
  std::size_t line_no = 0;
  for (std::size_t begin = 0; begin < content.size();) {
    std::size_t end = content.find('\n', begin);
    if (end == std::string::npos) end = content.size();
    std::string_view line(content.data() + begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    auto fail = [&](const std::string& why) {
      return Error(cat("vocab file ", vocab_path, " line ", line_no, ": ", why));
    };
    std::size_t pos = 0;
    uint64_t id = 0, length = 0;
    skip_blanks(line, pos);
    if (!parse_uint(line, pos, id)) throw fail("expected `<id> <literal> <byte length>`");
    if (id == 0) throw fail("id 0 is reserved for end-of-text");
    if (id > 0x7FFFFFFF) throw fail(cat("id ", id, " is too large"));
    skip_blanks(line, pos);
    if (!parse_python_literal(line, pos, bytes, err)) throw fail(err);
    skip_blanks(line, pos);
    if (!parse_uint(line, pos, length)) throw fail("expected the byte length after the literal");
    skip_blanks(line, pos);
    if (pos != line.size()) throw fail("unexpected text after the byte length");
    if (bytes.size() != length)
      throw fail(cat("literal has ", bytes.size(), " bytes but the length column says ", length));
    if (bytes.empty()) throw fail("empty token");
    const auto [it, fresh] = line_of_id.emplace(static_cast<int64_t>(id), line_no);
    if (!fresh) throw fail(cat("id ", id, " already defined on line ", it->second));
    entries.push_back({static_cast<int64_t>(id), line_no, bytes});
  }
  VRWKV_CHECK(!entries.empty(), "vocab file ", vocab_path, ": no entries");

  // Decode table.
  int64_t max_id = 0;
  for (const auto& e : entries) max_id = std::max(max_id, e.id);
  std::vector<const Entry*> by_id(static_cast<std::size_t>(max_id) + 1, nullptr);
  for (const auto& e : entries) by_id[static_cast<std::size_t>(e.id)] = &e;
  offsets_.assign(static_cast<std::size_t>(max_id) + 2, 0);
  known_.assign(static_cast<std::size_t>(max_id) + 1, 0);
  known_[0] = 1;
  for (int64_t id = 0; id <= max_id; ++id) {
    offsets_[id] = static_cast<uint32_t>(bytes_.size());
    if (const Entry* e = by_id[static_cast<std::size_t>(id)]) {
      bytes_ += e->bytes;
      known_[id] = 1;
    }
  }
  offsets_[max_id + 1] = static_cast<uint32_t>(bytes_.size());
  // Models pad their embedding to a multiple of 64 rows (65530 -> 65536 for the World vocab).
  vocab_size_ = (max_id + 1 + 63) / 64 * 64;

  // Build the trie in file order so a repeated byte string names both lines.
  std::vector<BuildNode> build(1);
  std::unordered_map<int32_t, std::size_t> line_of_node;
  for (const auto& e : entries) {
    int32_t node = 0;
    for (const char ch : e.bytes) {
      const uint8_t b = static_cast<uint8_t>(ch);
      auto found = build[node].kids.find(b);
      if (found == build[node].kids.end()) {
        const int32_t fresh = static_cast<int32_t>(build.size());
        build[node].kids.emplace(b, fresh);
        build.emplace_back();
        node = fresh;
      } else {
        node = found->second;
      }
    }
    if (build[node].token != 0)
      throw Error(cat("vocab file ", vocab_path, " line ", e.line, ": id ", e.id,
                      " repeats the bytes of id ", build[node].token, " (line ",
                      line_of_node[node], ")"));
    build[node].token = static_cast<int32_t>(e.id);
    line_of_node[node] = e.line;
  }

  // Flatten: node i keeps index i; children become contiguous runs or dense blocks.
  std::fill(std::begin(root_), std::end(root_), -1);
  for (const auto& [b, kid] : build[0].kids) root_[b] = kid;
  nodes_.resize(build.size());
  for (std::size_t i = 0; i < build.size(); ++i) {
    Node& n = nodes_[i];
    n.token = build[i].token;
    const auto& kids = build[i].kids;
    n.count = static_cast<uint16_t>(kids.size());
    if (i == 0 || kids.empty()) continue;  // the root is served by root_
    if (kids.size() > kDenseThreshold) {
      n.dense = 1;
      n.first = static_cast<uint32_t>(dense_.size());
      dense_.resize(dense_.size() + 256, -1);
      for (const auto& [b, kid] : kids) dense_[n.first + b] = kid;
    } else {
      n.first = static_cast<uint32_t>(labels_.size());
      for (const auto& [b, kid] : kids) {
        labels_.push_back(b);
        targets_.push_back(kid);
      }
    }
  }
}

inline int32_t WorldTokenizer::child(const Node& node, uint8_t byte) const {
  if (node.dense) return dense_[node.first + byte];
  const uint8_t* labels = labels_.data() + node.first;
  // Runs are short (at most kDenseThreshold) and sorted, so a linear scan with early exit wins.
  for (uint32_t i = 0; i < node.count; ++i) {
    if (labels[i] == byte) return targets_[node.first + i];
    if (labels[i] > byte) break;
  }
  return -1;
}

std::vector<int64_t> WorldTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 16);
  const auto* const data = reinterpret_cast<const uint8_t*>(text.data());
  const std::size_t n = text.size();
  std::size_t pos = 0;
  while (pos < n) {
    int32_t node = root_[data[pos]];
    int32_t best = node >= 0 ? nodes_[node].token : 0;
    std::size_t best_end = pos + 1;
    // Walk as deep as the trie allows, remembering the last node that ends a token.
    for (std::size_t q = pos + 1; node >= 0 && q < n;) {
      const Node& nd = nodes_[node];
      if (nd.count == 0) break;
      node = child(nd, data[q]);
      ++q;
      if (node >= 0 && nodes_[node].token != 0) {
        best = nodes_[node].token;
        best_end = q;
      }
    }
    VRWKV_CHECK(best != 0, "vocab file ", path_, ": no token matches byte 0x", std::hex,
                static_cast<int>(data[pos]), std::dec, " at offset ", pos, " of the text");
    out.push_back(best);
    pos = best_end;
  }
  return out;
}

std::string_view WorldTokenizer::token_bytes(int64_t id) const {
  VRWKV_CHECK(id >= 0 && id < static_cast<int64_t>(known_.size()) && known_[id], "vocab file ",
              path_, ": unknown token id ", id);
  return std::string_view(bytes_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
}

std::string WorldTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (const int64_t id : ids) {
    VRWKV_CHECK(id >= 0 && id < static_cast<int64_t>(known_.size()) && known_[id], "vocab file ",
                path_, ": unknown token id ", id);
    out.append(bytes_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  return out;
}

}  // namespace vrwkv::text
