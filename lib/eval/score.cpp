#include "eval/score.h"

#include "base/error.h"

namespace vrwkv::eval {

const std::vector<Scorer>& scorers() {
  static const std::vector<Scorer> table = {
      {"vqav2", "--annotations v2_mscoco_val2014_annotations.json", "VQAv2 val accuracy", score_vqav2},
      {"vizwiz", "--annotations val.json", "VizWiz val accuracy", score_vizwiz},
      {"textvqa", "--annotations TextVQA_0.5.1_val.json", "TextVQA val accuracy", score_textvqa},
      {"gqa", "--annotations testdev_balanced_questions.json", "GQA accuracy", score_gqa},
      {"scienceqa", "--annotations DIR (problems.json, pid_splits.json)", "ScienceQA-IMG accuracy", score_scienceqa},
      {"pope", "--annotations DIR (coco_pope_*.json) --questions llava_pope_test.jsonl", "POPE per category",
       score_pope},
      {"mme", "--annotations MME_Benchmark_release_version DIR --questions llava_mme.jsonl",
       "MME perception and cognition", score_mme},
      {"vqav2-submit", "--questions llava_vqav2_mscoco_test2015.jsonl --submission OUT.json",
       "VQAv2 test-dev upload file", submit_vqav2},
      {"vizwiz-submit", "--questions llava_test.jsonl --submission OUT.json", "VizWiz test upload file",
       submit_vizwiz},
      {"mmbench-submit", "--questions mmbench_dev_20230712.tsv --submission OUT.xlsx", "MMBench upload spreadsheet",
       submit_mmbench},
      {"mmvet-submit", "--submission OUT.json", "MM-Vet upload file", submit_mmvet},
      {"demo", "--annotations eval_answers.jsonl", "visualrwkv demo's held-out questions", score_demo},
  };
  return table;
}

const Scorer& find_scorer(const std::string& name) {
  std::string known;
  for (const auto& s : scorers()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw Error(cat("unknown benchmark '", name, "' (known: ", known, ")"));
}

}  // namespace vrwkv::eval
