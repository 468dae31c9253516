// A minimal .xlsx writer: one worksheet of inline strings and numbers in an Office Open XML
// package, zipped with stored (uncompressed) entries. Enough for the MMBench upload spreadsheet;
// Excel, LibreOffice, openpyxl and pandas read it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vrwkv::eval {

struct XlsxCell {
  enum class Kind { kEmpty, kText, kNumber };
  Kind kind = Kind::kEmpty;
  std::string text;
  double number = 0;

  static XlsxCell empty() { return {}; }
  static XlsxCell of_text(std::string s) { return {Kind::kText, std::move(s), 0}; }
  static XlsxCell of_number(double v) { return {Kind::kNumber, {}, v}; }
};

using XlsxRow = std::vector<XlsxCell>;

// Writes the workbook to `path` (an Error naming it when that fails). Text is stored as UTF-8 with
// XML escaping; characters XML cannot hold are written in the _xHHHH_ form Excel decodes.
void write_xlsx(const std::string& path, const std::string& sheet_name, const std::vector<XlsxRow>& rows);

// The worksheet part alone (xl/worksheets/sheet1.xml), for tests.
std::string xlsx_sheet_xml(const std::vector<XlsxRow>& rows);

// "A", "B", ... "Z", "AA", ... for a 0-based column.
std::string xlsx_column_name(size_t column);

// CRC-32 (the zip / PNG polynomial, reflected 0xEDB88320).
uint32_t crc32(std::string_view data);

// A zip archive of the entries (name, bytes), each stored uncompressed, in order.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace vrwkv::eval
