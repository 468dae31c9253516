// visualrwkv score --benchmark NAME --answers A.jsonl [--annotations PATH] [--questions Q]
//     [--submission OUT] [--report REPORT.json]
// visualrwkv score --benchmark list
// Scores an answer file locally the way the original's scripts score it (docs/eval.md), or writes
// the upload file of a server-scored set (the *-submit benchmarks). No model, no GPU.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "eval/normalize.h"
#include "eval/score.h"

namespace {

using namespace vrwkv;

const char* kUsage =
    "visualrwkv score --benchmark NAME --answers A.jsonl [--annotations PATH] [--questions Q] "
    "[--submission OUT] [--report REPORT.json]   (--benchmark list: the benchmarks and what each needs)";

void print_list() {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& s : eval::scorers()) rows.push_back({s.name, s.description + ": --answers A.jsonl " + s.needs});
  std::printf("%s", eval::format_table(rows).c_str());
}

}  // namespace

int cmd_score(const std::vector<std::string>& argv) {
  const auto a = cli::parse_args(argv, {"benchmark", "answers", "annotations", "questions", "submission", "report"},
                                 {}, kUsage);
  VRWKV_CHECK(a.positional.empty() && a.has("benchmark"), "usage: ", kUsage);
  if (a.get("benchmark") == "list") {
    print_list();
    return 0;
  }
  const auto& scorer = eval::find_scorer(a.get("benchmark"));
  VRWKV_CHECK(a.has("answers"), "--answers is required\nusage: ", kUsage);
  eval::ScoreInputs in;
  in.answers = a.get("answers");
  in.annotations = a.get("annotations");
  in.questions = a.get("questions");
  in.submission = a.get("submission");
  // Each scorer checks what it needs; these say which option was given in vain.
  auto reads = [&](const std::string& option) { return scorer.needs.find("--" + option) != std::string::npos; };
  for (const char* option : {"annotations", "submission"})
    VRWKV_CHECK(!a.has(option) || reads(option), a.get("benchmark"), " does not read --", option, " (it needs: ",
                scorer.needs, ")");

  const auto report = scorer.score(in);
  std::printf("%s", report.table.c_str());
  for (const auto& note : report.notes) std::printf("note: %s\n", note.c_str());
  if (a.has("report")) {
    nlohmann::ordered_json out = {{"benchmark", scorer.name},
                                  {"answers", in.answers},
                                  {"metrics", report.metrics},
                                  {"notes", report.notes}};
    if (!in.annotations.empty()) out["annotations"] = in.annotations;
    if (!in.questions.empty()) out["questions"] = in.questions;
    write_file_atomically(a.get("report"),
                                out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
    std::fprintf(stderr, "score: report -> %s\n", a.get("report").c_str());
  }
  return 0;
}
