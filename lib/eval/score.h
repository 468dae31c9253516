// Scoring answer files locally exactly as the original's scripts score them (docs/eval.md writes
// each rule down), and writing the submission files of the server-scored sets.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vrwkv::eval {

struct ScoreInputs {
  std::string answers;      // answer JSON Lines (eval/answers.h)
  std::string annotations;  // the benchmark's ground truth: a file or a folder, per scorer
  std::string questions;    // the question file, for scorers that need the question list
  std::string submission;   // where a *-submit scorer writes the file to upload
};

struct ScoreReport {
  nlohmann::ordered_json metrics;  // the figures, named as the original prints them
  std::vector<std::string> notes;  // what the reader should know (answers counted as FAILED, ...)
  std::string table;               // the figures for a terminal
};

struct Scorer {
  std::string name;         // "vqav2", "textvqa", ... (the --benchmark of `visualrwkv score`)
  std::string needs;        // which of ScoreInputs it reads, for the usage text
  std::string description;
  ScoreReport (*score)(const ScoreInputs&);
};

const std::vector<Scorer>& scorers();
// Throws an Error listing the known names.
const Scorer& find_scorer(const std::string& name);

// The scorers (score_*.cpp, submissions.cpp).
ScoreReport score_vqav2(const ScoreInputs& in);      // VQAv2 val: accuracy over the 10 human answers
ScoreReport score_vizwiz(const ScoreInputs& in);     // VizWiz val: the same rule
ScoreReport score_textvqa(const ScoreInputs& in);    // TextVQA val: the m4c soft score
ScoreReport score_gqa(const ScoreInputs& in);        // GQA testdev-balanced: exact match
ScoreReport score_scienceqa(const ScoreInputs& in);  // ScienceQA test: accuracy, image accuracy
ScoreReport score_pope(const ScoreInputs& in);       // POPE: accuracy, precision, recall, F1, yes-ratio
ScoreReport score_mme(const ScoreInputs& in);        // MME: per subtask acc / acc+, totals
ScoreReport submit_vqav2(const ScoreInputs& in);     // VQAv2 test-dev: EvalAI JSON
ScoreReport submit_vizwiz(const ScoreInputs& in);    // VizWiz test: EvalAI JSON
ScoreReport submit_mmbench(const ScoreInputs& in);   // MMBench (EN/CN): the upload spreadsheet (.xlsx)
ScoreReport submit_mmvet(const ScoreInputs& in);     // MM-Vet: its JSON {question_id: answer}
ScoreReport score_demo(const ScoreInputs& in);       // `visualrwkv demo`'s held-out questions

// The demo's clean-up before exact match: first line, lower case, punctuation dropped, spaces collapsed.
std::string normalise_demo_answer(const std::string& answer);

}  // namespace vrwkv::eval
