// The sharded, resumable eval run (infer/eval_run.h): each rank answers its share once, a resumed
// run on another number of ranks answers only what is missing, torn lines are answered again, a
// question whose image fails is answered without it and says so, and the merged file is in
// question order with the answer lines the original's scorers read.
#include <filesystem>
#include <fstream>
#include <set>

#include "catch_compat.h"
#include "eval/answers.h"
#include "infer/batch_decoder.h"
#include "infer/eval_run.h"
#include "test_paths.h"
#include "toy_model.h"

namespace {

namespace fs = std::filesystem;

std::vector<vrwkv::eval::Question> toy_questions(int n) {
  const std::vector<std::string> words = {"what", "is", "the", "colour", "here"};
  std::vector<vrwkv::eval::Question> out;
  for (int i = 0; i < n; ++i) {
    vrwkv::eval::Question q;
    // Ids as the files give them: numbers, strings, and one id twice (MME gives two questions one id).
    q.question_id = i % 3 == 0 ? nlohmann::json("q" + std::to_string(i)) : nlohmann::json(i);
    if (i == 7) q.question_id = out[4].question_id;
    for (int w = 0; w < 1 + i % 4; ++w) q.text += (w ? " " : "") + words[(i + w) % words.size()];
    q.text += "?";
    if (i % 4 != 2) q.image_path = "img" + std::to_string(i) + ".png";
    if (i == 5) q.image_path = "missing.png";
    q.metadata = {{"category", i % 2 ? "odd" : "even"}};
    q.where = "questions.jsonl:" + std::to_string(i + 1);
    out.push_back(q);
  }
  return out;
}

vrwkv::QuestionImages toy_images() {
  return [](const vrwkv::eval::Question& q) -> torch::Tensor {
    if (q.image_path.empty()) return torch::Tensor();
    if (q.image_path == "missing.png") throw vrwkv::Error("image file not found: missing.png");
    const auto seed = std::hash<std::string>{}(q.image_path) % 1000;
    return torch::rand({3, 28, 28}, torch::TensorOptions().dtype(torch::kFloat32)) * 0 + double(seed) / 1000.0;
  };
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("eval run: shards, resume on another number of ranks, torn lines, merged in question order",
          "[eval_run]") {
  vrwkv::test::ToyTokenizer tok;
  auto model = vrwkv::test::noisy_model(torch::kFloat32, 41);
  vrwkv::BatchDecoder decoder(model, tok, vrwkv::ScanMode::kBi, vrwkv::text::PromptStyle::kSandwich, 0);
  const auto questions = toy_questions(11);
  const auto dir = vrwkv::test::scratch_dir("eval_run");

  vrwkv::EvalRunOptions o;
  o.generate.max_new_tokens = 8;
  o.model_id = "toy";
  o.batch_size = 3;

  // The reference: one rank, all at once.
  o.answers = (dir / "one" / "answers.jsonl").string();
  const auto all = vrwkv::answer_questions(decoder, questions, toy_images(), o);
  CHECK(all.answered == 11);
  CHECK(all.mine == 11);
  CHECK(all.image_problems.size() == 1);
  CHECK(vrwkv::merge_answers(questions, o.answers) == 11);
  CHECK_FALSE(fs::exists(vrwkv::answer_part_path(o.answers, 0)));
  const auto reference = read_lines(o.answers);
  REQUIRE(reference.size() == 11);
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO("line " << i);
    CHECK(reference[i]["question_id"] == questions[i].question_id);
    CHECK(reference[i]["metadata"]["question_index"] == int64_t(i));
    CHECK(reference[i]["metadata"]["category"].dump() == questions[i].metadata["category"].dump());
    CHECK(reference[i]["model_id"] == "toy");
    CHECK(reference[i]["prompt"].get<std::string>().rfind("User: ", 0) == 0);
    CHECK(reference[i].contains("avg_logit"));
    CHECK(reference[i].contains("avg_prob"));
    // The question without an image file is answered without it (its prompt holds no "<image>").
    const bool image_failed = i == 5;
    CHECK(reference[i]["metadata"].contains("image_error") == image_failed);
    if (image_failed) CHECK(reference[i]["prompt"].get<std::string>().find("<image>") == std::string::npos);
  }

  // Two ranks, the second interrupted after its first batch (simulated: its part file keeps one
  // batch and a torn half line), then resumed on three ranks.
  o.answers = (dir / "sharded" / "answers.jsonl").string();
  o.rank = 1, o.world_size = 2;
  const auto r1 = vrwkv::answer_questions(decoder, questions, toy_images(), o);
  CHECK(r1.mine == 5);  // questions 1, 3, 5, 7, 9
  {
    const auto part = vrwkv::answer_part_path(o.answers, 1);
    std::ifstream in(part);
    std::string first_batch, line;
    for (int k = 0; k < 3 && std::getline(in, line); ++k) first_batch += line + "\n";
    in.close();
    std::ofstream out(part, std::ios::trunc);
    out << first_batch << line.substr(0, line.size() / 2);  // torn: no newline
  }
  CHECK(vrwkv::answered_ids(o.answers).size() == 3);
  o.rank = 0, o.world_size = 2;
  CHECK(vrwkv::answer_questions(decoder, questions, toy_images(), o).answered == 6);
  CHECK(vrwkv::answered_ids(o.answers).size() == 9);
  int64_t resumed = 0;
  for (int rank = 0; rank < 3; ++rank) {
    o.rank = rank, o.world_size = 3;
    const auto s = vrwkv::answer_questions(decoder, questions, toy_images(), o);
    resumed += s.answered;
    CHECK(s.already_answered + s.answered == s.mine);
  }
  CHECK(resumed == 2);  // only the two lost with the interruption
  CHECK(vrwkv::merge_answers(questions, o.answers) == 11);
  const auto merged = read_lines(o.answers);
  REQUIRE(merged.size() == 11);
  for (size_t i = 0; i < questions.size(); ++i) {
    INFO("line " << i);
    // Greedy answers do not depend on the batch, the rank or the interruption.
    CHECK(merged[i]["text"] == reference[i]["text"]);
    CHECK(merged[i]["prompt"] == reference[i]["prompt"]);
    CHECK(merged[i]["question_id"] == reference[i]["question_id"]);
  }
  // Every line parses as an answer line for the scorers; a second run answers nothing.
  CHECK(vrwkv::eval::read_answer_lines(o.answers).size() == 11);
  o.rank = 0, o.world_size = 1;
  CHECK(vrwkv::answer_questions(decoder, questions, toy_images(), o).answered == 0);
}
