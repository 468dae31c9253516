// Multiple-choice benchmarks: ScienceQA scored locally as the evaluation's eval_science_qa.py scores
// it, and the MMBench upload spreadsheet as convert_mmbench_for_submission.py writes it.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/choice_parse.h"
#include "eval/score.h"
#include "eval/text_util.h"
#include "eval/tsv.h"
#include "eval/xlsx_writer.h"

namespace vrwkv::eval {

namespace {

namespace fs = std::filesystem;

// True when `s` is written as a decimal number pandas would read into a numeric column
// (sign, digits, an optional fraction and exponent).
bool looks_numeric(const std::string& s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

}  // namespace

std::string parse_choice_letter(const std::string& text, const std::string& options) {
  // 1. the whole answer is one option letter
  if (text.size() == 1 && options.find(text[0]) != std::string::npos) return text;
  // 2. an option letter followed by ". "
  if (text.size() >= 3 && options.find(text[0]) != std::string::npos && text.compare(1, 2, ". ") == 0)
    return text.substr(0, 1);
  // 3. exactly one "The answer is X" + one more character (not a line break), X any capital letter;
  //    matches do not overlap, as a regular expression's find-all counts them.
  static const std::string kLead = "The answer is ";
  std::string found;
  int matches = 0;
  for (size_t pos = 0;;) {
    const size_t at = text.find(kLead, pos);
    if (at == std::string::npos) break;
    const size_t letter = at + kLead.size();
    if (letter + 1 < text.size() && text[letter] >= 'A' && text[letter] <= 'Z' && text[letter + 1] != '\n') {
      size_t after = letter + 1;
      text::next_code_point(text, after);  // the "any character" may be several bytes
      ++matches;
      found = text.substr(letter, 1);
      pos = after;
    } else {
      pos = at + 1;
    }
  }
  return matches == 1 ? found : std::string(kFailedChoice);
}

ScoreReport score_scienceqa(const ScoreInputs& in) {
  VRWKV_CHECK(!in.annotations.empty(), "scienceqa: --annotations must name the folder with problems.json and pid_splits.json");
  VRWKV_CHECK(!in.answers.empty(), "scienceqa: --answers is required");
  const std::string splits_path = (fs::path(in.annotations) / "pid_splits.json").string();
  const std::string problems_path = (fs::path(in.annotations) / "problems.json").string();
  const auto splits = text::read_json_file(splits_path, "ScienceQA split file");
  const auto problems = text::read_json_file(problems_path, "ScienceQA problem file");
  VRWKV_CHECK(splits.is_object() && splits.contains("test") && splits["test"].is_array(), splits_path,
              ": needs a \"test\" list of problem ids");
  VRWKV_CHECK(problems.is_object(), problems_path, ": must be an object of problems by id");

  const auto answers = answers_by_id(read_answer_lines(in.answers));
  const std::string options = "ABCDE";

  int64_t total = 0, correct = 0, img_total = 0, img_correct = 0, failed = 0, missing = 0, answered_with_image = 0;
  std::vector<std::string> missing_ids;
  for (const auto& pid_json : splits["test"]) {
    VRWKV_CHECK(pid_json.is_string(), splits_path, ": \"test\" holds a non-string id ", pid_json.dump());
    const std::string pid = pid_json.get<std::string>();
    auto prob_it = problems.find(pid);
    VRWKV_CHECK(prob_it != problems.end(), problems_path, ": no problem \"", pid, "\" (listed in ", splits_path, ")");
    const auto& prob = *prob_it;
    VRWKV_CHECK(prob.contains("choices") && prob["choices"].is_array(), problems_path, ": problem \"", pid,
                "\": field \"choices\" must be a list");
    VRWKV_CHECK(prob.contains("answer") && prob["answer"].is_number_integer(), problems_path, ": problem \"", pid,
                "\": field \"answer\" must be an integer");
    const auto n_choices = prob["choices"].size();
    const int64_t truth = prob["answer"].get<int64_t>();

    // A problem without an answer line counts, as FAILED, and not as an image question (its
    // prompt is unknown).
    std::string text = "FAILED", prompt = "Unknown";
    auto a = answers.find(pid);
    if (a == answers.end()) {
      ++missing;
      if (missing_ids.size() < 5) missing_ids.push_back(pid);
    } else {
      text = a->second.text;
      prompt = a->second.prompt;
      const auto& rec = a->second.record;
      if (rec.contains("metadata") && rec["metadata"].is_object() && rec["metadata"].contains("image_file") &&
          !rec["metadata"]["image_file"].is_null())
        ++answered_with_image;
    }
    const std::string letter = parse_choice_letter(text, options);
    if (letter == kFailedChoice) ++failed;
    const size_t pos = options.find(letter);
    const int64_t pred = (letter.size() == 1 && pos != std::string::npos && pos < n_choices) ? static_cast<int64_t>(pos) : -1;
    const bool ok = pred == truth;
    const bool multimodal = prompt.find("<image>") != std::string::npos;
    ++total;
    correct += ok;
    if (multimodal) {
      ++img_total;
      img_correct += ok;
    }
  }
  VRWKV_CHECK(total > 0, splits_path, ": the \"test\" split is empty");

  ScoreReport r;
  const double acc = 100.0 * static_cast<double>(correct) / static_cast<double>(total);
  r.metrics["total"] = total;
  r.metrics["correct"] = correct;
  r.metrics["accuracy"] = acc;
  r.metrics["img_total"] = img_total;
  r.metrics["img_correct"] = img_correct;
  if (img_total > 0)
    r.metrics["img_accuracy"] = 100.0 * static_cast<double>(img_correct) / static_cast<double>(img_total);
  else
    r.metrics["img_accuracy"] = nullptr;
  r.metrics["failed"] = failed;
  r.metrics["missing"] = missing;
  if (failed > 0)
    r.notes.push_back(cat(failed, " of ", total, " answers gave no option letter (parsed as FAILED, counted wrong)"));
  if (missing > 0) {
    std::string first;
    for (size_t i = 0; i < missing_ids.size(); ++i) first += (i ? ", " : "") + missing_ids[i];
    r.notes.push_back(cat(missing, " test problems have no answer line (counted as FAILED); first: ", first));
  }
  if (img_total == 0) {
    r.notes.push_back(answered_with_image > 0
                          ? cat("no answer prompt holds \"<image>\", though ", answered_with_image,
                                " answer lines name an image file: the image accuracy (prompts with \"<image>\") is undefined")
                          : std::string("no answer prompt holds \"<image>\": the image accuracy is undefined"));
  }
  r.table = cat("Task: ScienceQA, Total: ", total, ", Correct: ", correct, ", Accuracy: ", text::fixed(acc, 2),
                "%, IMG-Accuracy: ",
                img_total > 0 ? text::fixed(100.0 * static_cast<double>(img_correct) / static_cast<double>(img_total), 2) + "%"
                              : std::string("n/a"),
                "\n");
  return r;
}

ScoreReport submit_mmbench(const ScoreInputs& in) {
  VRWKV_CHECK(!in.questions.empty(), "mmbench-submit: --questions must name the MMBench TSV the answers are for");
  VRWKV_CHECK(!in.answers.empty(), "mmbench-submit: --answers is required");
  VRWKV_CHECK(!in.submission.empty(), "mmbench-submit: --submission must name the .xlsx to write");
  const TsvTable table = read_tsv(in.questions);
  const int c_index = table.column("index");
  VRWKV_CHECK(c_index >= 0, in.questions, ":1: an MMBench file needs an \"index\" column");

  // The upload keeps the TSV's columns except these, with "prediction" in the seventh place.
  const std::set<std::string> dropped = {"hint", "category", "source", "image", "comment", "l2-category"};
  std::vector<int> kept;
  for (size_t c = 0; c < table.columns.size(); ++c)
    if (!dropped.count(table.columns[c])) kept.push_back(static_cast<int>(c));
  const size_t prediction_at = std::min<size_t>(6, kept.size());

  // pandas reads a column as numbers when every present cell is one; to_excel then writes numbers.
  std::vector<bool> numeric(table.columns.size(), false);
  for (int c : kept) {
    bool any = false, all = true;
    for (const auto& row : table.rows) {
      const std::string& v = row.cells[c];
      if (is_missing_cell(v)) continue;
      any = true;
      if (!looks_numeric(v)) {
        all = false;
        break;
      }
    }
    numeric[c] = any && all;
  }

  // The last answer line for an index wins (the original assigns them in file order).
  const auto lines = read_answer_lines(in.answers);
  auto index_key = [&](const std::string& cell) {
    // "7" and "7.0" name the same row, as pandas' numeric index compares them.
    if (looks_numeric(cell)) return id_key(nlohmann::json(std::strtod(cell.c_str(), nullptr)));
    return cell;
  };
  std::map<std::string, const AnswerLine*> answer_of_key;
  for (const auto& row : table.rows) answer_of_key.emplace(index_key(row.cells[c_index]), nullptr);
  int64_t stray = 0;
  for (const auto& a : lines) {
    auto it = answer_of_key.find(id_key(a.question_id));
    if (it == answer_of_key.end()) {
      ++stray;
      continue;
    }
    it->second = &a;
  }

  const int c_answer = table.column("answer");
  const std::string options = "ABCD";
  std::vector<XlsxRow> rows;
  XlsxRow header;
  for (size_t k = 0; k < kept.size(); ++k) {
    if (k == prediction_at) header.push_back(XlsxCell::of_text("prediction"));
    header.push_back(XlsxCell::of_text(table.columns[kept[k]]));
  }
  if (prediction_at == kept.size()) header.push_back(XlsxCell::of_text("prediction"));
  rows.push_back(std::move(header));
  int64_t predicted = 0, without = 0, local_total = 0, local_correct = 0, local_failed = 0;
  for (const auto& row : table.rows) {
    const AnswerLine* a = answer_of_key[index_key(row.cells[c_index])];
    XlsxCell prediction = a ? XlsxCell::of_text(a->text) : XlsxCell::empty();
    if (a)
      ++predicted;
    else
      ++without;
    XlsxRow out;
    for (size_t k = 0; k < kept.size(); ++k) {
      if (k == prediction_at) out.push_back(prediction);
      const std::string& v = row.cells[kept[k]];
      if (is_missing_cell(v))
        out.push_back(XlsxCell::empty());
      else if (numeric[kept[k]])
        out.push_back(XlsxCell::of_number(std::strtod(v.c_str(), nullptr)));
      else
        out.push_back(XlsxCell::of_text(v));
    }
    if (prediction_at == kept.size()) out.push_back(prediction);
    rows.push_back(std::move(out));

    if (c_answer >= 0 && !is_missing_cell(row.cells[c_answer])) {
      ++local_total;
      const std::string letter = a ? parse_choice_letter(text::strip(a->text), options) : std::string(kFailedChoice);
      if (letter == kFailedChoice) ++local_failed;
      local_correct += (letter == text::strip(row.cells[c_answer]));
    }
  }
  write_xlsx(in.submission, "Sheet1", rows);

  ScoreReport r;
  r.metrics["rows"] = static_cast<int64_t>(table.rows.size());
  r.metrics["predictions"] = predicted;
  r.metrics["without_prediction"] = without;
  r.metrics["submission"] = in.submission;
  if (without > 0)
    r.notes.push_back(cat(without, " of ", table.rows.size(), " questions have no answer line: their prediction cell is empty"));
  if (stray > 0) r.notes.push_back(cat(stray, " answer lines name an index the TSV does not have (left out)"));
  std::string table_text = cat("MMBench upload: ", in.submission, " (", table.rows.size(), " rows, ", predicted,
                               " predictions)\n");
  if (local_total > 0) {
    const double acc = 100.0 * static_cast<double>(local_correct) / static_cast<double>(local_total);
    r.metrics["local_accuracy"] = acc;
    r.metrics["local_correct"] = local_correct;
    r.metrics["local_total"] = local_total;
    r.metrics["local_failed"] = local_failed;
    r.notes.push_back(
        "local_accuracy matches each row's parsed letter to its \"answer\"; the official MMBench score is the "
        "server's circular evaluation (a question counts only when all its rotated variants are right), usually lower");
    table_text += cat("Local accuracy (plain letter match, not circular): ", text::fixed(acc, 2), "% (", local_correct,
                      "/", local_total, ")\n");
  }
  r.table = table_text;
  return r;
}

}  // namespace vrwkv::eval
