// Answer files: JSON Lines {question_id, prompt, text, avg_logit, avg_prob, model_id, metadata}, the
// lines LLaVA's and VisualRWKV's scorers read. `visualrwkv eval` writes them; the scorers read them.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace vrwkv::eval {

struct AnswerLine {
  nlohmann::json question_id;
  std::string prompt;             // the full rendered prompt (ScienceQA's image accuracy looks for "<image>")
  std::string text;               // the answer
  nlohmann::ordered_json record;  // the whole line
  std::string where;              // "file:line"
};

// One spelling for a question id, whether the file wrote 7 or "7": ids are matched by it.
std::string id_key(const nlohmann::json& id);

// Every line of an answer file; a malformed line is an Error naming file and line. A question
// answered twice keeps its last answer (a resumed eval may repeat the line it was writing).
std::vector<AnswerLine> read_answer_lines(const std::string& path);

// The answers by id_key.
std::map<std::string, AnswerLine> answers_by_id(const std::vector<AnswerLine>& answers);

// Throws an Error naming the first missing ids (at most 5) and how many are missing when `answers`
// lacks any of `wanted` (ids by id_key; `what` names the answer file in the message).
void require_answers(const std::map<std::string, AnswerLine>& answers, const std::vector<std::string>& wanted,
                     const std::string& what);

}  // namespace vrwkv::eval
