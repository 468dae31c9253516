// Answer normalisation of the VQA-style scorers (docs/eval.md, "Answer normalisation"), and the small
// helpers the scorers and submission writers share (JSON files, question lists).
//
// Two families of rules exist in the original's tooling and both are kept apart here:
//   - the VQA evaluation tool (VQAv2, VizWiz): punctuation, then digits/articles/contractions, each
//     applied separately by the scorer (the VQAv2 tool treats the human answers differently from
//     the prediction);
//   - the EvalAI answer processor (TextVQA soft score, the VQAv2/VizWiz upload files): a word
//     tokenising step (lower case, "," and "?" dropped, "'s" split off) followed by both of the above.
#pragma once
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"  // the submission writers write through it
#include "eval/text_util.h"    // lower_ascii, replace_all, read_file

#include <string>
#include <utility>
#include <vector>

namespace vrwkv::eval {

// Python's str.strip() / str.split() whitespace, for ASCII text: space, \t \n \v \f \r and \x1c-\x1f.
bool is_py_space(char c);
std::string py_strip(const std::string& s);
std::vector<std::string> py_split(const std::string& s);

// The punctuation step. Each of ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! is deleted when the text
// holds it next to a space or holds a comma between digits, and otherwise becomes a space; then every
// "." not followed by a digit is deleted. `multi_comma`: the EvalAI variant, where the
// comma-between-digits test accepts a run of commas ("1,,2"); the VQA tool accepts exactly one.
std::string vqa_punctuation(const std::string& text, bool multi_comma = false);

// The digit/article step: lower case, split on whitespace, the words none/zero..ten become 0..10,
// the articles a/an/the are dropped, the contraction table restores apostrophes ("dont" -> "don't"),
// and the words are joined with single spaces.
std::string vqa_digit_article(const std::string& text);

// The whole EvalAI processor (m4c_evaluator.EvalAIAnswerProcessor): lower case, "," and "?"
// deleted, "'s" -> " 's", strip; newlines and tabs -> spaces, strip; punctuation; digit/article.
std::string evalai_normalize(const std::string& answer);

// The prediction side of the VQA tool: newlines and tabs -> spaces, strip, punctuation, digit/article.
std::string vqa_normalize_prediction(const std::string& answer);

// Soft accuracy over human answers: the mean, over each human answer left out in turn, of
// min(1, matches of `prediction` among the others / 3). Exact string comparison.
double leave_one_out_accuracy(const std::string& prediction, const std::vector<std::string>& humans);

// A JSON file read whole; an Error names the file when it cannot be opened or parsed.
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// A question of a JSON Lines question file, as far as the scorers need it.
struct QuestionRef {
  nlohmann::json question_id;
  std::string image;  // "" when the line has none
  std::string text;   // "" when the line has none
  std::string where;  // "file:line"
};
// Every question of a JSON Lines question file ({question_id, image?, text?} per line), in order.
std::vector<QuestionRef> read_question_refs(const std::string& path);

// The image file named by an answer line: metadata.image_file, metadata.image or a top-level
// "image"; "" when none.
std::string answer_image_file(const nlohmann::ordered_json& record);
// The file name without folders and extension ("train_images/003a.jpg" -> "003a").
std::string file_stem(const std::string& path);
// The file name without folders ("test/VizWiz_test_00000001.jpg" -> "VizWiz_test_00000001.jpg").
std::string file_name(const std::string& path);

// A JSON string as Python's json.dumps writes it with ensure_ascii (non-ASCII as \uXXXX).
std::string py_json_string(const std::string& s);
// x rounded to `digits` decimals the way Python's round() does for floats (nearest, on the exact
// binary value).
double py_round(double x, int digits);
// "%.2f" of x.
std::string fixed2(double x);

// A two-column table for the terminal: labels padded to one width, then the values.
std::string format_table(const std::vector<std::pair<std::string, std::string>>& rows);

}  // namespace vrwkv::eval
