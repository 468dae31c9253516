// The upload files of the server-scored sets written here: VQAv2 test-dev and VizWiz test (EvalAI)
// and MM-Vet (its grader). MMBench's spreadsheet is in submit_mmbench.
#include <set>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/normalize.h"
#include "eval/score.h"

namespace vrwkv::eval {

namespace {

void require_input(const std::string& value, const std::string& option, const std::string& scorer) {
  VRWKV_CHECK(!value.empty(), scorer, " needs ", option);
}

// A question id as Python's json.dumps writes it.
std::string py_json_id(const nlohmann::json& id) {
  return id.is_string() ? py_json_string(id.get<std::string>()) : id.dump();
}

// [{"k1": v1, "k2": v2}, ...] with the separators of Python's json.dump (", " and ": "), so the
// file reads byte for byte as the original's.
std::string py_json_records(const std::vector<std::pair<std::string, std::string>>& items, const std::string& k1,
                            const std::string& k2) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ", " : "";
    out += "{\"" + k1 + "\": " + items[i].first + ", \"" + k2 + "\": " + items[i].second + "}";
  }
  return out + "]";
}

}  // namespace

ScoreReport submit_vqav2(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "vqav2-submit");
  require_input(in.questions, "--questions llava_vqav2_mscoco_test2015.jsonl", "vqav2-submit");
  require_input(in.submission, "--submission OUT.json", "vqav2-submit");
  const auto answers = answers_by_id(read_answer_lines(in.answers));
  const auto questions = read_question_refs(in.questions);
  // Every question of the split is in the file; one without an answer gets "", as the original
  // writes it (the server then scores it wrong).
  std::vector<std::pair<std::string, std::string>> items;
  std::set<std::string> in_split;
  int64_t missing = 0;
  std::string first_missing;
  for (const auto& q : questions) {
    const std::string key = id_key(q.question_id);
    in_split.insert(key);
    auto it = answers.find(key);
    if (it == answers.end()) {
      if (!missing++) first_missing = key;
      items.push_back({py_json_id(q.question_id), "\"\""});
    } else {
      items.push_back({py_json_id(q.question_id), py_json_string(evalai_normalize(it->second.text))});
    }
  }
  int64_t extra = 0;
  for (const auto& [key, a] : answers) extra += !in_split.count(key);
  write_file_atomically(in.submission, py_json_records(items, "question_id", "answer"));

  ScoreReport r;
  r.metrics["questions"] = questions.size();
  r.metrics["answered"] = static_cast<int64_t>(questions.size()) - missing;
  r.metrics["missing"] = missing;
  r.metrics["submission"] = in.submission;
  r.table = format_table({{"VQAv2 upload", in.submission},
                          {"questions", std::to_string(questions.size())},
                          {"answered", std::to_string(static_cast<int64_t>(questions.size()) - missing)},
                          {"missing (written as \"\")", std::to_string(missing)}});
  if (missing)
    r.notes.push_back(cat(missing, " of ", questions.size(), " questions have no answer and are written with an empty "
                          "answer, as the original does (first: ", first_missing, ")"));
  if (extra) r.notes.push_back(cat(extra, " answers are for questions outside ", in.questions, " (left out)"));
  r.notes.push_back("upload the file to the VQAv2 challenge on EvalAI (test-dev phase)");
  return r;
}

ScoreReport submit_vizwiz(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "vizwiz-submit");
  require_input(in.questions, "--questions llava_test.jsonl", "vizwiz-submit");
  require_input(in.submission, "--submission OUT.json", "vizwiz-submit");
  const auto answers = answers_by_id(read_answer_lines(in.answers));
  const auto questions = read_question_refs(in.questions);
  std::vector<std::string> wanted;
  for (const auto& q : questions) {
    VRWKV_CHECK(!q.image.empty(), q.where, ": a VizWiz question needs \"image\"");
    wanted.push_back(id_key(q.question_id));
  }
  // The original stops at the first question without an answer.
  require_answers(answers, wanted, in.answers);
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& q : questions)
    items.push_back({py_json_string(q.image), py_json_string(evalai_normalize(answers.at(id_key(q.question_id)).text))});
  write_file_atomically(in.submission, py_json_records(items, "image", "answer"));

  ScoreReport r;
  r.metrics["questions"] = questions.size();
  r.metrics["submission"] = in.submission;
  r.table = format_table({{"VizWiz upload", in.submission}, {"questions", std::to_string(questions.size())}});
  if (answers.size() > std::set<std::string>(wanted.begin(), wanted.end()).size())
    r.notes.push_back(cat("some answers are for questions outside ", in.questions, " (left out)"));
  r.notes.push_back("upload the file to the VizWiz VQA challenge on EvalAI");
  return r;
}

ScoreReport submit_mmvet(const ScoreInputs& in) {
  require_input(in.answers, "--answers", "mmvet-submit");
  require_input(in.submission, "--submission OUT.json", "mmvet-submit");
  // {"v1_<question_id>": answer} in answer-file order; a repeated id keeps its first place and its
  // last answer, as a Python dict does. Written with json.dump(indent=2)'s layout.
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const auto lines = read_answer_lines(in.answers);
  for (const auto& a : lines) out["v1_" + id_key(a.question_id)] = a.text;
  write_file_atomically(in.submission,
                        out.dump(2, ' ', /*ensure_ascii=*/true, nlohmann::ordered_json::error_handler_t::replace));
  ScoreReport r;
  r.metrics["questions"] = out.size();
  r.metrics["submission"] = in.submission;
  r.table = format_table({{"MM-Vet results", in.submission}, {"questions", std::to_string(out.size())}});
  if (out.size() < lines.size())
    r.notes.push_back(cat(lines.size() - out.size(), " repeated answer lines: the last answer of each question counts"));
  r.notes.push_back("grade the file with MM-Vet's GPT-4 evaluator (its results JSON)");
  return r;
}

}  // namespace vrwkv::eval
