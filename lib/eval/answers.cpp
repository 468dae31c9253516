#include "eval/answers.h"

#include "base/error.h"
#include "eval/text_util.h"

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
  std::vector<AnswerLine> out;
  text::for_each_json_line<nlohmann::ordered_json>(path, "answer file", [&](const nlohmann::ordered_json& record,
                                                                             const std::string& where) {
    VRWKV_CHECK(record.is_object() && record.contains("question_id"), where, ": an answer line needs \"question_id\"");
    VRWKV_CHECK(record.contains("text") && record["text"].is_string(), where, ": an answer line needs \"text\" (a string)");
    AnswerLine a;
    a.question_id = nlohmann::json::parse(record["question_id"].dump());
    a.text = record["text"].get<std::string>();
    if (record.contains("prompt") && record["prompt"].is_string()) a.prompt = record["prompt"].get<std::string>();
    a.record = record;
    a.where = where;
    out.push_back(std::move(a));
  });
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
