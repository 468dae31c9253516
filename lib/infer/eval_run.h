// A sharded, resumable benchmark run. Question i of the file belongs to rank i % world_size (the
// ranks of a torchrun launch); each rank answers its share in batches (infer/batch_decoder.h) and
// appends answer lines to its own part file `<answers>.rank<R>`, flushed after every batch. Before
// starting, the ids already answered are read back from every part file and from the merged file,
// so an interrupted eval, resumed on any number of ranks, never answers a question twice. Rank 0
// merges the parts in question order once every question has its answer.
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "eval/questions.h"
#include "infer/question_decoder.h"

namespace vrwkv {

// A question's pixels: v6's preprocessed image, or v7's image for the three towers; undefined
// tensors when it has none.
struct QuestionPixels {
  QuestionPixels() = default;
  QuestionPixels(torch::Tensor image) : image(std::move(image)) {}  // v6's image loaders give the tensor
  explicit QuestionPixels(TowerPixels towers) : towers(std::move(towers)) {}
  torch::Tensor image;
  TowerPixels towers;
};

// The pixels of a question. Throws when the image is missing or cannot be decoded: the question is
// then answered without it and reported.
using QuestionImages = std::function<QuestionPixels(const eval::Question&)>;

struct EvalRunOptions {
  std::string answers;       // the merged answer file (JSON Lines)
  int64_t batch_size = 16;
  GenerateOptions generate;  // generate.seed is the base of every question's own seed
  std::string model_id;
  int rank = 0, world_size = 1;
  double report_every_s = 10;  // progress lines on stderr
};

struct EvalRunStats {
  int64_t questions = 0;         // in the file
  int64_t mine = 0;              // this rank's share
  int64_t already_answered = 0;  // of the share, found answered when the run started
  int64_t answered = 0;          // by this run
  int64_t generated_tokens = 0;
  double seconds = 0;
  std::vector<std::string> image_problems;  // "question_id: what went wrong", answered without the image
};

// The part file of a rank.
std::string answer_part_path(const std::string& answers, int rank);

// The questions with an answer in the merged file or any part file, as "<index in the question
// file>\t<eval::id_key>" (metadata.question_index of the answer line; MME gives two questions one
// id). Lines not yet complete (no newline: being written, or cut by a kill) and lines that do not
// parse are not answers.
std::set<std::string> answered_ids(const std::string& answers);

// Answers this rank's unanswered questions; returns what it did.
EvalRunStats answer_questions(QuestionDecoder& decoder, const std::vector<eval::Question>& questions,
                              const QuestionImages& images, const EvalRunOptions& options);

// Rank 0, after its own share: waits (polling) until every question has an answer, then writes the
// merged file in question order (atomically) and removes the part files. Returns the line count.
int64_t merge_answers(const std::vector<eval::Question>& questions, const std::string& answers, double poll_s = 2);

}  // namespace vrwkv
