// The benchmark question readers (questions.h) and the TSV / base64 helpers of tsv.h.
#include "eval/questions.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "eval/text_util.h"
#include "eval/tsv.h"

namespace vrwkv::eval {

namespace {

constexpr const char* kImageToken = "<image>";
constexpr const char* kMMBenchSuffixEn = "Answer with the option's letter from the given choices directly.";
constexpr const char* kMMBenchSuffixCn = "请直接回答选项字母。";
// How many rows `auto` looks at to tell MMBench-CN from MMBench-EN.
constexpr size_t kCjkProbeRows = 200;

// The human turn as the question file holds it, image token taken out (the prompt style places the
// image) and whitespace trimmed.
std::string clean_text(const std::string& raw) { return text::strip(text::replace_all(raw, kImageToken, "")); }

std::string lower_extension(const std::string& path) {
  return text::lower_ascii(std::filesystem::path(path).extension().string());
}

// The question id under the three names the evaluation accepts, in its order of preference.
const nlohmann::ordered_json* find_question_id(const nlohmann::ordered_json& record) {
  for (const char* key : {"question_id", "id", "index"}) {
    auto it = record.find(key);
    if (it != record.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

nlohmann::json plain(const nlohmann::ordered_json& j) { return nlohmann::json::parse(j.dump()); }

// The first conversation's value: the human turn of a LLaVA-style record.
std::string first_turn(const nlohmann::ordered_json& record, const std::string& where) {
  auto conv = record.find("conversations");
  VRWKV_CHECK(conv != record.end() && conv->is_array() && !conv->empty(), where,
              ": field \"conversations\" must be a non-empty array");
  const auto& first = (*conv)[0];
  VRWKV_CHECK(first.is_object() && first.contains("value") && first["value"].is_string(), where,
              ": field \"conversations\"[0].value must be a string");
  return first["value"].get<std::string>();
}

std::string optional_image(const nlohmann::ordered_json& record, const std::string& where) {
  auto it = record.find("image");
  if (it == record.end() || it->is_null()) return "";
  VRWKV_CHECK(it->is_string(), where, ": field \"image\" must be a string");
  return it->get<std::string>();
}

std::vector<Question> read_json_lines(const std::string& path) {
  std::vector<Question> out;
  text::for_each_json_line<nlohmann::ordered_json>(path, "question file", [&](const nlohmann::ordered_json& record,
                                                                               const std::string& where) {
    VRWKV_CHECK(record.is_object(), where, ": a question line must be a JSON object");
    const auto* id = find_question_id(record);
    VRWKV_CHECK(id, where, ": no question id (field \"question_id\", \"id\" or \"index\")");
    Question q;
    q.question_id = plain(*id);
    auto text_it = record.find("text");
    if (text_it != record.end()) {
      VRWKV_CHECK(text_it->is_string(), where, ": field \"text\" must be a string");
      q.text = clean_text(text_it->get<std::string>());
    } else {
      VRWKV_CHECK(record.contains("conversations"), where,
                  ": no question text (field \"text\", or \"conversations\"[0].value)");
      q.text = clean_text(first_turn(record, where));
    }
    q.image_path = optional_image(record, where);
    q.metadata = nlohmann::ordered_json::object();
    auto cat_it = record.find("category");
    if (cat_it != record.end()) q.metadata["category"] = *cat_it;
    q.metadata["image_file"] = q.image_path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(q.image_path);
    q.where = where;
    out.push_back(std::move(q));
  });
  return out;
}

std::vector<Question> read_scienceqa(const std::string& path) {
  const auto records = text::read_json_file(path, "ScienceQA question file");
  VRWKV_CHECK(records.is_array(), path, ": a ScienceQA question file is a JSON array of records");
  std::vector<Question> out;
  out.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& record = records[i];
    const std::string where = cat(path, ":record ", i);
    VRWKV_CHECK(record.is_object(), where, ": a record must be a JSON object");
    const auto* id = find_question_id(record);
    VRWKV_CHECK(id, where, ": no question id (field \"id\", \"question_id\" or \"index\")");
    Question q;
    q.question_id = plain(*id);
    q.text = clean_text(first_turn(record, where));
    q.image_path = optional_image(record, where);
    q.metadata = nlohmann::ordered_json::object();
    q.metadata["image_file"] = q.image_path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(q.image_path);
    q.where = where;
    out.push_back(std::move(q));
  }
  return out;
}

bool all_digits(std::string_view s) {
  size_t b = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (b >= s.size()) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(b), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The `index` cell as the id pandas gives it: an integer when it is one, else the text.
nlohmann::json index_id(const std::string& cell) {
  if (all_digits(cell) && cell.size() < 19) return nlohmann::json(std::stoll(cell));
  return nlohmann::json(cell);
}

bool probably_cn(const TsvTable& table, size_t max_rows) {
  const int q = table.column("question"), h = table.column("hint");
  size_t looked = 0, cjk = 0;
  for (const auto& row : table.rows) {
    if (looked == max_rows) break;
    ++looked;
    if ((q >= 0 && text::has_cjk(row.cells[q])) || (h >= 0 && text::has_cjk(row.cells[h]))) ++cjk;
  }
  return looked > 0 && 2 * cjk > looked;
}

bool name_says_cn(const std::string& path) {
  return text::lower_ascii(std::filesystem::path(path).filename().string()).find("_cn") != std::string::npos;
}

std::vector<Question> read_mmbench(const std::string& path, bool cn) {
  const TsvTable table = read_tsv(path);
  const int c_index = table.column("index"), c_question = table.column("question"), c_hint = table.column("hint"),
            c_image = table.column("image");
  VRWKV_CHECK(c_index >= 0, path, ":1: an MMBench file needs an \"index\" column");
  VRWKV_CHECK(c_question >= 0, path, ":1: an MMBench file needs a \"question\" column");
  VRWKV_CHECK(c_image >= 0, path, ":1: an MMBench file needs an \"image\" column (base64)");
  const char* kOptions[] = {"A", "B", "C", "D"};
  int c_option[4];
  for (int k = 0; k < 4; ++k) c_option[k] = table.column(kOptions[k]);

  // Some MMBench releases store an image once and give later rows the index of the row holding it.
  std::map<std::string, size_t> row_of_index;
  for (size_t r = 0; r < table.rows.size(); ++r) row_of_index.emplace(table.rows[r].cells[c_index], r);

  std::vector<Question> out;
  out.reserve(table.rows.size());
  std::vector<std::string> decoded(table.rows.size());
  std::vector<bool> done(table.rows.size(), false);
  auto image_of = [&](size_t r, auto&& self, int depth) -> const std::string& {
    if (done[r]) return decoded[r];
    const auto& row = table.rows[r];
    const std::string where = cat(path, ":", row.line);
    const std::string& cell = row.cells[c_image];
    VRWKV_CHECK(!is_missing_cell(cell), where, ": field \"image\" is empty");
    auto ref = row_of_index.find(cell);
    if (cell.size() <= 64 && all_digits(cell) && ref != row_of_index.end() && ref->second != r) {
      VRWKV_CHECK(depth < 4, where, ": field \"image\" refers to other rows in a loop");
      decoded[r] = self(ref->second, self, depth + 1);
    } else {
      decoded[r] = base64_decode(cell, cat(where, ": field \"image\""));
    }
    done[r] = true;
    return decoded[r];
  };

  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const std::string where = cat(path, ":", row.line);
    auto cell = [&](int c) -> const std::string& {
      static const std::string kEmpty;
      return c >= 0 ? row.cells[c] : kEmpty;
    };
    auto value_or_null = [&](int c) {
      return (c < 0 || is_missing_cell(row.cells[c])) ? nlohmann::ordered_json() : nlohmann::ordered_json(row.cells[c]);
    };
    VRWKV_CHECK(!is_missing_cell(cell(c_index)), where, ": field \"index\" is empty");
    VRWKV_CHECK(!is_missing_cell(cell(c_question)), where, ": field \"question\" is empty");

    // hint + question, the options up to the first missing one, then the instruction.
    std::string text = cell(c_question);
    if (c_hint >= 0 && !is_missing_cell(cell(c_hint))) text = cell(c_hint) + "\n" + text;
    for (int k = 0; k < 4; ++k) {
      if (c_option[k] < 0 || is_missing_cell(cell(c_option[k]))) break;
      text += cat("\n", kOptions[k], ". ", cell(c_option[k]));
    }
    text += "\n";
    text += cn ? kMMBenchSuffixCn : kMMBenchSuffixEn;

    Question q;
    q.question_id = index_id(cell(c_index));
    q.text = clean_text(text);
    q.image_bytes = image_of(r, image_of, 0);
    q.where = where;
    auto& m = q.metadata;
    m = nlohmann::ordered_json::object();
    m["index"] = nlohmann::ordered_json::parse(q.question_id.dump());
    m["question"] = cell(c_question);
    m["hint"] = value_or_null(c_hint);
    for (int k = 0; k < 4; ++k) m[kOptions[k]] = value_or_null(c_option[k]);
    for (const char* name : {"answer", "category", "l2-category", "split", "source"}) {
      const int c = table.column(name);
      if (c >= 0) m[name] = value_or_null(c);
    }
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace

int TsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

TsvTable read_tsv(const std::string& path) {
  std::string body = text::read_file(path, "TSV file");
  size_t pos = 0;
  if (body.size() >= 3 && body.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;  // a UTF-8 byte order mark
  TsvTable table;
  table.path = path;
  int64_t line = 1;
  bool have_header = false;
  const size_t n = body.size();
  while (pos < n) {
    // Empty lines carry no row.
    if (body[pos] == '\n' || body[pos] == '\r') {
      if (body[pos] == '\r' && pos + 1 < n && body[pos + 1] == '\n') ++pos;
      ++pos;
      ++line;
      continue;
    }
    const int64_t row_line = line;
    std::vector<std::string> fields;
    std::string field;
    bool row_done = false;
    while (!row_done) {
      field.clear();
      if (pos < n && body[pos] == '"') {
        // Quoted: up to the closing quote; "" is a quote; tabs and line ends are text.
        const int64_t quote_line = line;
        ++pos;
        for (;;) {
          VRWKV_CHECK(pos < n, path, ":", quote_line, ": the file ends inside a quoted field");
          const char c = body[pos];
          if (c == '"') {
            if (pos + 1 < n && body[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (c == '\n' || (c == '\r' && !(pos + 1 < n && body[pos + 1] == '\n'))) ++line;
          field += c;
          ++pos;
        }
      }
      // The unquoted part (or what follows a closing quote) up to the tab or line end.
      while (pos < n && body[pos] != '\t' && body[pos] != '\n' && body[pos] != '\r') field += body[pos++];
      fields.push_back(field);
      if (pos < n && body[pos] == '\t') {
        ++pos;
        continue;
      }
      if (pos < n) {
        if (body[pos] == '\r' && pos + 1 < n && body[pos + 1] == '\n') ++pos;
        ++pos;
        ++line;
      }
      row_done = true;
    }
    if (!have_header) {
      table.columns = std::move(fields);
      have_header = true;
      continue;
    }
    VRWKV_CHECK(fields.size() <= table.columns.size(), path, ":", row_line, ": ", fields.size(),
                " fields where the header has ", table.columns.size());
    fields.resize(table.columns.size());
    table.rows.push_back({std::move(fields), row_line});
  }
  VRWKV_CHECK(have_header, path, ": the TSV file is empty (no header row)");
  return table;
}

bool is_missing_cell(std::string_view cell) {
  static const char* kNa[] = {"",     "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                              "1.#QNAN", "<NA>", "N/A",   "NA",  "NULL",    "NaN",      "None", "n/a",  "nan",
                              "null"};
  for (const char* na : kNa)
    if (cell == na) return true;
  const std::string lower = text::lower_ascii(std::string(cell));
  return lower == "nan" || lower == "none";
}

std::string base64_decode(std::string_view text, const std::string& where) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int have = 0;     // sextets gathered in the current quantum
  int padding = 0;  // '=' seen
  size_t pos = 0;
  for (char c : text) {
    ++pos;
    if (text::is_space(c)) continue;
    if (c == '=') {
      VRWKV_CHECK(have >= 2, where, ": base64 padding '=' out of place at character ", pos);
      ++padding;
      VRWKV_CHECK(have + padding <= 4, where, ": too much base64 padding at character ", pos);
      continue;
    }
    const int v = value(c);
    if (v < 0) {
      const auto u = static_cast<unsigned char>(c);
      char shown[8];
      if (u >= 0x20 && u < 0x7F)
        std::snprintf(shown, sizeof shown, "'%c'", c);
      else
        std::snprintf(shown, sizeof shown, "0x%02X", u);
      throw Error(cat(where, ": character ", pos, " (", shown, ") is not base64"));
    }
    VRWKV_CHECK(padding == 0, where, ": base64 data after the '=' padding at character ", pos);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (++have == 4) {
      out += static_cast<char>((acc >> 16) & 0xFF);
      out += static_cast<char>((acc >> 8) & 0xFF);
      out += static_cast<char>(acc & 0xFF);
      acc = 0;
      have = 0;
    }
  }
  if (have == 0) {
    VRWKV_CHECK(padding == 0, where, ": base64 padding without data");
    return out;
  }
  VRWKV_CHECK(have + padding == 4, where, ": base64 data ends in the middle of a group (bad padding)");
  if (have == 2) {
    out += static_cast<char>((acc >> 4) & 0xFF);
  } else {  // have == 3
    out += static_cast<char>((acc >> 10) & 0xFF);
    out += static_cast<char>((acc >> 2) & 0xFF);
  }
  return out;
}

QuestionFormat question_format_from_string(const std::string& name, const std::string& path) {
  if (name == "jsonl") return QuestionFormat::kJsonLines;
  if (name == "scienceqa") return QuestionFormat::kScienceQA;
  if (name == "mmbench") return QuestionFormat::kMMBench;
  if (name == "mmbench_cn") return QuestionFormat::kMMBenchCN;
  VRWKV_CHECK(name == "auto", "unknown question format '", name,
              "' (known: auto, jsonl, scienceqa, mmbench, mmbench_cn)");
  const std::string ext = lower_extension(path);
  if (ext == ".jsonl") return QuestionFormat::kJsonLines;
  if (ext == ".json") return QuestionFormat::kScienceQA;
  if (ext == ".tsv") {
    if (name_says_cn(path)) return QuestionFormat::kMMBenchCN;
    return probably_cn(read_tsv(path), kCjkProbeRows) ? QuestionFormat::kMMBenchCN : QuestionFormat::kMMBench;
  }
  throw Error(cat(path, ": cannot tell the question format from the extension '", ext,
                  "' (.jsonl, .json or .tsv; or name it: jsonl, scienceqa, mmbench, mmbench_cn)"));
}

std::vector<Question> read_questions(const std::string& path, QuestionFormat format) {
  switch (format) {
    case QuestionFormat::kJsonLines:
      return read_json_lines(path);
    case QuestionFormat::kScienceQA:
      return read_scienceqa(path);
    case QuestionFormat::kMMBench:
      return read_mmbench(path, false);
    case QuestionFormat::kMMBenchCN:
      return read_mmbench(path, true);
  }
  throw Error(cat(path, ": unknown question format"));
}

}  // namespace vrwkv::eval
