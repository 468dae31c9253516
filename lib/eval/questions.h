// The question files of the benchmarks, in the formats the LLaVA-1.5 / VisualRWKV evaluation reads:
//   question JSON Lines {question_id, image, text, category?} (VQAv2, GQA, TextVQA, POPE, MME,
//   VizWiz, MM-Vet); ScienceQA's JSON array with `conversations` (questions with and without an
//   image); MMBench's TSV (base64 images, hint, options A-D; the CN variant too).
// Each becomes a Question holding the human turn exactly as the original feeds it to the model.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vrwkv::eval {

enum class QuestionFormat { kJsonLines, kScienceQA, kMMBench, kMMBenchCN };

struct Question {
  nlohmann::json question_id;       // as in the file (number or string)
  std::string text;                 // the human turn, "<image>" removed (the prompt style places it)
  std::string image_path;           // relative to the image folder; empty when none or embedded
  std::string image_bytes;          // an image embedded in the file (MMBench's base64, decoded)
  nlohmann::ordered_json metadata;  // copied into the answer line (category, options, image file)
  std::string where;                // "file:line" for messages
  bool has_image() const { return !image_path.empty() || !image_bytes.empty(); }
};

// "jsonl" | "scienceqa" | "mmbench" | "mmbench_cn", or "auto": by extension (.jsonl, .json, .tsv;
// a .tsv whose questions hold CJK characters is the CN variant).
QuestionFormat question_format_from_string(const std::string& name, const std::string& path);

// Reads every question in file order. A malformed line or record is an Error naming file and line.
std::vector<Question> read_questions(const std::string& path, QuestionFormat format);

}  // namespace vrwkv::eval
