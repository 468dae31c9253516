#include "eval/xlsx_writer.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "base/error.h"
#include "base/utf8.h"
#include "eval/text_util.h"

namespace vrwkv::eval {

namespace {

void put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
}

void put32(std::string& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, (v >> 16) & 0xFFFF);
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Cell text as XML character data. Control characters XML 1.0 cannot carry become _xHHHH_ (the
// OOXML escape), a literal "_xHHHH_" keeps its meaning by escaping its underscore, and bytes that
// are not UTF-8 become U+FFFD.
std::string xml_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const uint32_t cp = text::next_code_point(s, i);
    const bool stray = (i - start == 1) && cp >= 0x80;
    if (stray) {
      out += "\xEF\xBF\xBD";
      continue;
    }
    char buf[16];
    switch (cp) {
      case '&': out += "&amp;"; continue;
      case '<': out += "&lt;"; continue;
      case '>': out += "&gt;"; continue;
      case '"': out += "&quot;"; continue;
      case '\t': case '\n': case '\r': out += static_cast<char>(cp); continue;
      default: break;
    }
    if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      std::snprintf(buf, sizeof buf, "_x%04X_", static_cast<unsigned>(cp & 0xFFFF));
      out += buf;
      continue;
    }
    if (cp == '_' && s.size() - start >= 7 && s[start + 1] == 'x' && is_hex(s[start + 2]) && is_hex(s[start + 3]) &&
        is_hex(s[start + 4]) && is_hex(s[start + 5]) && s[start + 6] == '_') {
      out += "_x005F_";
      continue;
    }
    append_utf8(out, cp);
  }
  return out;
}

std::string xml_number(double v) {
  VRWKV_CHECK(std::isfinite(v), "xlsx: a number cell must be finite");
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* kXmlHead = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

}  // namespace

std::string xlsx_column_name(size_t column) {
  std::string name;
  for (size_t c = column + 1; c > 0; c = (c - 1) / 26) name.insert(name.begin(), static_cast<char>('A' + (c - 1) % 26));
  return name;
}

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : (c >> 1);
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries) {
  // Every entry carries the DOS date 1980-01-01 00:00 so the archive depends on its contents only.
  constexpr uint32_t kDosTime = 0, kDosDate = (0u << 9) | (1u << 5) | 1u;
  constexpr uint32_t kMax32 = std::numeric_limits<uint32_t>::max();
  VRWKV_CHECK(entries.size() < 0xFFFF, "zip: too many entries (", entries.size(), ")");
  std::string out, central;
  for (const auto& [name, data] : entries) {
    VRWKV_CHECK(!name.empty() && name.size() < 0xFFFF, "zip: bad entry name '", name, "'");
    VRWKV_CHECK(data.size() < kMax32 && out.size() < kMax32, "zip: entry '", name,
                "' is past the 4 GiB a zip without ZIP64 holds");
    const uint32_t crc = crc32(data);
    const auto size = static_cast<uint32_t>(data.size());
    const auto offset = static_cast<uint32_t>(out.size());
    // local file header
    put32(out, 0x04034b50);
    put16(out, 20);  // version needed: 2.0
    put16(out, 0);   // flags
    put16(out, 0);   // method: stored
    put16(out, kDosTime);
    put16(out, kDosDate);
    put32(out, crc);
    put32(out, size);  // compressed size
    put32(out, size);  // uncompressed size
    put16(out, static_cast<uint32_t>(name.size()));
    put16(out, 0);  // extra field length
    out += name;
    out += data;
    // central directory record
    put32(central, 0x02014b50);
    put16(central, 20);  // made by: 2.0
    put16(central, 20);  // needed: 2.0
    put16(central, 0);
    put16(central, 0);
    put16(central, kDosTime);
    put16(central, kDosDate);
    put32(central, crc);
    put32(central, size);
    put32(central, size);
    put16(central, static_cast<uint32_t>(name.size()));
    put16(central, 0);  // extra
    put16(central, 0);  // comment
    put16(central, 0);  // disk number
    put16(central, 0);  // internal attributes
    put32(central, 0);  // external attributes
    put32(central, offset);
    central += name;
  }
  VRWKV_CHECK(out.size() + central.size() < kMax32, "zip: the archive is past 4 GiB");
  const auto central_offset = static_cast<uint32_t>(out.size());
  out += central;
  // end of central directory
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(entries.size()));
  put16(out, static_cast<uint32_t>(entries.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, central_offset);
  put16(out, 0);  // comment length
  return out;
}

std::string xlsx_sheet_xml(const std::vector<XlsxRow>& rows) {
  std::string x = kXmlHead;
  x += "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::string row_no = std::to_string(r + 1);
    x += "<row r=\"" + row_no + "\">";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const auto& cell = rows[r][c];
      if (cell.kind == XlsxCell::Kind::kEmpty) continue;
      const std::string ref = xlsx_column_name(c) + row_no;
      if (cell.kind == XlsxCell::Kind::kNumber) {
        x += "<c r=\"" + ref + "\"><v>" + xml_number(cell.number) + "</v></c>";
      } else {
        x += "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t xml:space=\"preserve\">" + xml_text(cell.text) +
             "</t></is></c>";
      }
    }
    x += "</row>";
  }
  x += "</sheetData></worksheet>";
  return x;
}

void write_xlsx(const std::string& path, const std::string& sheet_name, const std::vector<XlsxRow>& rows) {
  const std::string ns_main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
  const std::string ns_rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
  const std::string ns_pkg = "http://schemas.openxmlformats.org/package/2006/relationships";
  const std::string ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.";
  std::vector<std::pair<std::string, std::string>> parts;
  parts.emplace_back("[Content_Types].xml",
                     std::string(kXmlHead) +
                         "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
                         "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
                         "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
                         "<Override PartName=\"/xl/workbook.xml\" ContentType=\"" + ct + "sheet.main+xml\"/>"
                         "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"" + ct + "worksheet+xml\"/>"
                         "<Override PartName=\"/xl/styles.xml\" ContentType=\"" + ct + "styles+xml\"/>"
                         "</Types>");
  parts.emplace_back("_rels/.rels", std::string(kXmlHead) + "<Relationships xmlns=\"" + ns_pkg +
                                        "\"><Relationship Id=\"rId1\" Type=\"" + ns_rel +
                                        "/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>");
  parts.emplace_back("xl/workbook.xml", std::string(kXmlHead) + "<workbook xmlns=\"" + ns_main + "\" xmlns:r=\"" +
                                            ns_rel + "\"><sheets><sheet name=\"" + xml_text(sheet_name) +
                                            "\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>");
  parts.emplace_back("xl/_rels/workbook.xml.rels",
                     std::string(kXmlHead) + "<Relationships xmlns=\"" + ns_pkg + "\"><Relationship Id=\"rId1\" Type=\"" +
                         ns_rel + "/worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" Type=\"" +
                         ns_rel + "/styles\" Target=\"styles.xml\"/></Relationships>");
  parts.emplace_back("xl/styles.xml",
                     std::string(kXmlHead) + "<styleSheet xmlns=\"" + ns_main +
                         "\"><fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>"
                         "<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>"
                         "<fill><patternFill patternType=\"gray125\"/></fill></fills>"
                         "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
                         "<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
                         "<cellXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/></cellXfs>"
                         "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>"
                         "</styleSheet>");
  parts.emplace_back("xl/worksheets/sheet1.xml", xlsx_sheet_xml(rows));
  const std::string zip = zip_stored(parts);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  VRWKV_CHECK(out.good(), path, ": cannot write the spreadsheet");
  out.write(zip.data(), static_cast<std::streamsize>(zip.size()));
  out.close();
  VRWKV_CHECK(out.good(), path, ": writing the spreadsheet failed");
}

}  // namespace vrwkv::eval
