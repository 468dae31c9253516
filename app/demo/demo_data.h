// The synthetic data set of `visualrwkv demo`: coloured shapes on varied backgrounds, drawn with
// OpenCV, in LLaVA format. Stage 1 gets captions, stage 2 multi-turn questions about colour, shape,
// position and count (plus a few text-only samples), and held-out images get LLaVA eval questions
// (JSON Lines {question_id, image, text, category}) with their answers in a separate file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vrwkv::data {

struct DemoDataOptions {
  int64_t train_images = 3000;
  int64_t eval_images = 200;
  int64_t image_size = 64;           // side of the square PNGs
  double text_only_fraction = 0.07;  // of the stage-2 samples
  uint64_t seed = 1;
};

// What generate_demo_dataset wrote (absolute paths).
struct DemoDataset {
  std::string dir;
  std::string image_folder;    // the data's image paths are relative to it
  std::string stage1_file;     // captions, JSON array
  std::string stage2_file;     // multi-turn questions, JSON array
  std::string eval_questions;  // JSON Lines {question_id, image, text, category}
  std::string eval_answers;    // JSON Lines {question_id, answer, category}
  std::string text_file;       // every sentence of the data, one per line (tokenizer training)
  int64_t stage1_samples = 0, stage2_samples = 0, eval_questions_count = 0;
};

// The question types, and the chance of a uniform guess among each type's answers.
const std::vector<std::string>& demo_question_types();
std::map<std::string, double> demo_chance();

// Draws and writes everything into `dir` (created; earlier files are overwritten). The same seed
// and options give byte-identical files. Throws vrwkv::Error when a file cannot be written.
DemoDataset generate_demo_dataset(const std::string& dir, const DemoDataOptions& options);

struct DemoQuestion {
  std::string question_id, image, text, category, answer;
};

// The held-out questions joined with their answers; throws vrwkv::Error naming the file.
std::vector<DemoQuestion> read_demo_eval(const DemoDataset& dataset);

}  // namespace vrwkv::data
