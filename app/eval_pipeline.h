// The eval pipeline as one call: a benchmark's questions answered by a trained checkpoint (batched
// recurrent decoding, sharded over the ranks of the launch, resumable: infer/eval_run.h), merged
// and scored on rank 0 as the original scores them. `visualrwkv eval` fills an EvalRequest from its
// command line; the demo builds one and reads the figures from the returned report.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/score.h"
#include "infer/eval_run.h"

namespace vrwkv {

// One field per option of `visualrwkv eval` (the errors name the options), with its defaults.
struct EvalRequest {
  std::string checkpoint;          // a checkpoint folder or a run's output_dir (its newest checkpoint)
  std::vector<std::string> sets;   // config overrides "key=value", applied to the checkpoint's config
  std::string questions;           // the question file
  std::string format = "auto";     // eval::question_format_from_string
  std::string image_folder = ".";  // the questions' image paths are relative to it
  std::string answers;             // the merged answer file (JSON Lines); its part files resume a run
  int64_t batch_size = 16;
  int64_t max_tokens = 128;
  double temperature = 0;  // 0: greedy
  double top_p = 1;
  uint64_t seed = 0;
  std::string model_id;   // empty: the checkpoint folder's name
  std::string benchmark;  // a scorer's name (eval/score.h); empty: answers only, no figures
  std::string annotations, submission;  // the scorer's inputs (eval::ScoreInputs)
};

struct EvalReport {
  // True on rank 0, which merged every rank's answers (and scored them); the other ranks report
  // only their own share and leave the rest empty.
  bool merged = false;
  std::string checkpoint;  // the checkpoint folder that answered
  std::string questions, answers;
  int64_t count = 0;  // questions in the file
  EvalRunStats run;   // this rank's share
  std::vector<std::string> answered_without_image;  // "question_id: what went wrong", from the merged file
  std::string benchmark;    // empty when not scored
  eval::ScoreReport score;  // the scorer's metrics, notes and table
};

// Runs the pipeline for this process of the launch (dist::detect_dist_env), printing progress on
// stderr and, when scored, the figures' table on stdout. Throws vrwkv::Error for a bad request
// before anything is loaded or answered.
EvalReport run_eval(const EvalRequest& request);

// The report file of `visualrwkv eval --report` (rank 0's report).
nlohmann::ordered_json eval_report_json(const EvalReport& report);
void write_eval_report(const std::string& path, const EvalReport& report);

}  // namespace vrwkv
