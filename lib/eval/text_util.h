// Small text and file helpers shared by the question readers and the multiple-choice / yes-no
// scorers: whole-file reads, JSON files and JSON Lines with the file named in errors, UTF-8 stepping, trimming.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "base/error.h"

namespace vrwkv::eval::text {

inline std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.good(), path, ": cannot open the ", what);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

inline nlohmann::ordered_json read_json_file(const std::string& path, const std::string& what) {
  const std::string body = read_file(path, what);
  try {
    return nlohmann::ordered_json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(path, ": the ", what, " is not valid JSON (", e.what(), ")"));
  }
}

// Calls each(record, where) for every non-blank line of a JSON Lines file, `where` being "file:line";
// a line that is not valid JSON is an Error naming it. Json: nlohmann::json or ordered_json.
template <typename Json, typename Each>
void for_each_json_line(const std::string& path, const std::string& what, Each&& each) {
  const std::string body = read_file(path, what);
  int64_t line_no = 0;
  for (size_t pos = 0; pos < body.size();) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string_view line(body.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = cat(path, ":", line_no);
    Json record;
    try {
      record = Json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(where, ": not valid JSON (", e.what(), ")"));
    }
    each(record, where);
  }
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Whitespace cut from both ends (ASCII whitespace, as the files use).
inline std::string strip(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  if (from.empty()) return s;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

inline std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The code point starting at s[i] and the index after it; a stray byte counts as one code point.
inline uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int extra = 0;
  uint32_t cp = b0;
  if (b0 >= 0xF0 && b0 < 0xF8) {
    extra = 3;
    cp = b0 & 0x07;
  } else if (b0 >= 0xE0) {
    extra = 2;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xC0) {
    extra = 1;
    cp = b0 & 0x1F;
  }
  if (b0 >= 0xF8 || (b0 >= 0x80 && b0 < 0xC0) || (extra > 0 && i + extra >= s.size())) {
    ++i;
    return b0;
  }
  for (int k = 1; k <= extra; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i += 1 + extra;
  return cp;
}

// The first n code points of s (the whole string when it has fewer).
inline std::string first_code_points(std::string_view s, size_t n) {
  size_t i = 0;
  for (size_t k = 0; k < n && i < s.size(); ++k) next_code_point(s, i);
  return std::string(s.substr(0, i));
}

inline bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF);
}

inline bool has_cjk(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (is_cjk(next_code_point(s, i))) return true;
  return false;
}

inline std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace vrwkv::eval::text
