// A fast validating scan of JSON text that finds the byte range of every element of a top-level
// array (or every line of JSON Lines) without building a document: a 1 GB LLaVA file is indexed
// in seconds and a few MB, and each sample is parsed only when it is used.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vrwkv::data {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Ranges of the elements of the top-level array in `text`; or, when `json_lines`, of each
// non-blank line. Every element is checked against the JSON grammar; an error is a vrwkv::Error
// naming `file`, the line and the column.
std::vector<ByteRange> scan_json_elements(std::string_view text, bool json_lines, const std::string& file);

// "file:line:column" of a byte offset (1-based, as editors count).
std::string describe_position(std::string_view text, uint64_t offset, const std::string& file);

}  // namespace vrwkv::data
