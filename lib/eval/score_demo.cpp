#include <cctype>
#include <map>

#include "base/error.h"
#include "eval/answers.h"
#include "eval/score.h"
#include "eval/text_util.h"

namespace vrwkv::eval {

std::string normalise_demo_answer(const std::string& answer) {
  std::string out;
  bool space = false;
  for (char ch : answer.substr(0, answer.find('\n'))) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      if (space && !out.empty()) out += ' ';
      out += char(std::tolower(c));
      space = false;
    } else if (std::isspace(c)) {
      space = true;
    }  // punctuation is dropped
  }
  return out;
}

ScoreReport score_demo(const ScoreInputs& in) {
  VRWKV_CHECK(!in.annotations.empty(), "demo: --annotations names the demo's eval_answers.jsonl");
  struct Truth {
    std::string answer, category;
  };
  std::vector<std::pair<std::string, Truth>> truth;
  text::for_each_json_line<nlohmann::json>(in.annotations, "demo answer key", [&](const nlohmann::json& j,
                                                                                  const std::string& where) {
    VRWKV_CHECK(j.is_object() && j.contains("question_id") && j.contains("answer") && j["answer"].is_string(), where,
                ": expected {\"question_id\", \"answer\", \"category\"}");
    truth.push_back({id_key(j["question_id"]), {j["answer"], j.value("category", std::string("all"))}});
  });
  const auto answers = answers_by_id(read_answer_lines(in.answers));
  std::vector<std::string> wanted;
  for (const auto& t : truth) wanted.push_back(t.first);
  require_answers(answers, wanted, in.answers);

  std::map<std::string, std::pair<int64_t, int64_t>> per;  // category -> (correct, total)
  int64_t correct = 0;
  for (const auto& [id, t] : truth) {
    const bool right = normalise_demo_answer(answers.at(id).text) == normalise_demo_answer(t.answer);
    auto& p = per[t.category];
    p.first += right, ++p.second;
    correct += right;
  }
  ScoreReport r;
  r.table = cat("question   answered  accuracy\n");
  for (const auto& [category, p] : per) {
    const double acc = double(p.first) / double(p.second);
    r.metrics[category] = {{"accuracy", acc}, {"count", p.second}};
    char row[96];
    std::snprintf(row, sizeof row, "%-10s %8lld %8.1f%%\n", category.c_str(), static_cast<long long>(p.second), 100 * acc);
    r.table += row;
  }
  const double overall = truth.empty() ? 0.0 : double(correct) / double(truth.size());
  r.metrics["overall"] = {{"accuracy", overall}, {"count", static_cast<int64_t>(truth.size())}};
  char row[96];
  std::snprintf(row, sizeof row, "%-10s %8lld %8.1f%%\n", "overall", static_cast<long long>(truth.size()), 100 * overall);
  r.table += row;
  return r;
}

}  // namespace vrwkv::eval
