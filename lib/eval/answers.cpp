#include "eval/answers.h"

#include <fstream>

#include "base/error.h"

namespace vrwkv::eval {

std::string id_key(const nlohmann::json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer() || id.is_number_unsigned()) return id.dump();
  // 7.0 and 7 name the same question (pandas writes floats for integer columns with gaps).
  if (id.is_number_float()) {
    const double v = id.get<double>();
    if (v == static_cast<double>(static_cast<long long>(v))) return std::to_string(static_cast<long long>(v));
  }
  return id.dump();
}

std::vector<AnswerLine> read_answer_lines(const std::string& path) {
  std::ifstream in(path);
  VRWKV_CHECK(in.good(), path, ": cannot open the answer file");
  std::vector<AnswerLine> out;
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, ":", line_no);
    nlohmann::ordered_json record;
    try {
      record = nlohmann::ordered_json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(where, ": not valid JSON (", e.what(), ")"));
    }
    VRWKV_CHECK(record.is_object() && record.contains("question_id"), where, ": an answer line needs \"question_id\"");
    VRWKV_CHECK(record.contains("text") && record["text"].is_string(), where, ": an answer line needs \"text\" (a string)");
    AnswerLine a;
    a.question_id = nlohmann::json::parse(record["question_id"].dump());
    a.text = record["text"].get<std::string>();
    if (record.contains("prompt") && record["prompt"].is_string()) a.prompt = record["prompt"].get<std::string>();
    a.record = std::move(record);
    a.where = where;
    out.push_back(std::move(a));
  }
  return out;
}

std::map<std::string, AnswerLine> answers_by_id(const std::vector<AnswerLine>& answers) {
  std::map<std::string, AnswerLine> out;
  for (const auto& a : answers) out[id_key(a.question_id)] = a;
  return out;
}

void require_answers(const std::map<std::string, AnswerLine>& answers, const std::vector<std::string>& wanted,
                     const std::string& what) {
  std::vector<std::string> missing;
  for (const auto& id : wanted)
    if (!answers.count(id)) missing.push_back(id);
  if (missing.empty()) return;
  std::string first;
  for (size_t i = 0; i < missing.size() && i < 5; ++i) first += (i ? ", " : "") + missing[i];
  throw Error(cat(what, ": ", missing.size(), " of ", wanted.size(), " questions have no answer; first missing ids: ",
                  first));
}

}  // namespace vrwkv::eval
