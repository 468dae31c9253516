// Tab-separated tables as pandas.read_table reads MMBench's files, and base64 images
// (implemented in questions.cpp; submit_mmbench reads the same table).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vrwkv::eval {

struct TsvTable {
  std::string path;
  std::vector<std::string> columns;  // the header row
  struct Row {
    std::vector<std::string> cells;  // one per column; a row with fewer fields gets "" (pandas: NaN)
    int64_t line = 0;                // the line the row starts on (the header is line 1)
  };
  std::vector<Row> rows;

  // The column's position, or -1.
  int column(const std::string& name) const;
};

// Rows end at \n, \r\n or \r; fields split at tabs. A field that starts with a double quote is
// quoted: it runs to the closing quote (tabs and line ends inside are text, "" is one quote) and
// anything after the closing quote up to the tab is appended. Empty lines are skipped. A row with
// more fields than the header, or a file ending inside quotes, is an Error naming file and line.
TsvTable read_tsv(const std::string& path);

// pandas' default missing-value spellings ("", "NaN", "nan", "NA", "N/A", "NULL", "None", ...) plus
// the evaluation's own is_none rule (any case of "nan" / "none").
bool is_missing_cell(std::string_view cell);

// Standard base64 (A-Z a-z 0-9 + /, '=' padding); whitespace is skipped, any other character or
// bad padding is an Error naming `where`.
std::string base64_decode(std::string_view text, const std::string& where);

}  // namespace vrwkv::eval
