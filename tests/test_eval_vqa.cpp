// The open-answer scorers and upload files: answer normalisation rule by rule, the leave-one-out
// accuracy, VQAv2 / VizWiz / TextVQA / GQA on small hand-made annotation and answer files with
// figures worked out by hand, TextVQA's question recovery, the submission files byte for byte, and
// the errors (file:line of a bad answer line, the first missing ids).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch_compat.h"
#include "eval/normalize.h"
#include "eval/score.h"
#include "eval/score_vqa.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;
using namespace vrwkv::eval;

std::string write(const fs::path& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A JSON list of human answers for the VQA-style annotation records.
std::string humans(const std::vector<std::pair<std::string, int>>& counts) {
  std::string out = "[";
  int id = 1;
  for (const auto& [answer, n] : counts)
    for (int i = 0; i < n; ++i, ++id)
      out += std::string(id > 1 ? ", " : "") + "{\"answer\": \"" + answer + "\", \"answer_id\": " + std::to_string(id) + "}";
  return out + "]";
}

std::string strings(const std::vector<std::pair<std::string, int>>& counts) {
  std::string out = "[";
  bool first = true;
  for (const auto& [answer, n] : counts)
    for (int i = 0; i < n; ++i) out += std::string(first ? "" : ", ") + "\"" + answer + "\"", first = false;
  return out + "]";
}

}  // namespace

TEST_CASE("normalisation: punctuation, periods and the comma-between-digits rule", "[eval]") {
  CHECK(vqa_punctuation("black/white") == "black white");  // not beside a space: becomes a space
  CHECK(vqa_punctuation("hi - there") == "hi  there");     // beside a space: deleted
  CHECK(vqa_punctuation("x-ray (big)") == "x ray big ");
  CHECK(vqa_punctuation("yes, sir!") == "yes sir ");        // ", " deletes every comma; "!" alone -> space
  CHECK(vqa_punctuation("1,000") == "1000");                // a comma between digits: all punctuation deleted
  CHECK(vqa_punctuation("1,5 x-ray") == "15 xray");
  // A run of commas between digits counts only for the EvalAI processor.
  CHECK(vqa_punctuation("1,,2 a-b") == "1  2 a b");
  CHECK(vqa_punctuation("1,,2 a-b", /*multi_comma=*/true) == "12 ab");
  CHECK(vqa_punctuation("a\\b") == "a b");
  // Periods: deleted unless a digit follows; at most 32 of them.
  CHECK(vqa_punctuation("3.5") == "3.5");
  CHECK(vqa_punctuation("end.") == "end");
  CHECK(vqa_punctuation("u.s.a.") == "usa");
  CHECK(vqa_punctuation(std::string(40, '.')) == std::string(8, '.'));
  CHECK(vqa_punctuation("it's") == "it's");  // apostrophes are not punctuation here
}

TEST_CASE("normalisation: numbers, articles, contractions, whitespace", "[eval]") {
  CHECK(vqa_digit_article("None of the THREE") == "0 of 3");
  CHECK(vqa_digit_article("an apple  a day") == "apple day");
  CHECK(vqa_digit_article("ten eleven") == "10 eleven");
  CHECK(vqa_digit_article("dont know") == "don't know");
  CHECK(vqa_digit_article("youll see, whats up") == "you'll see, what's up");
  CHECK(vqa_digit_article("Im here") == "im here");  // the table's capitalised keys never match
  CHECK(vqa_digit_article(" \t\n") == "");
  CHECK(vqa_normalize_prediction("  Two\tdogs.\n") == "2 dogs");
  CHECK(vqa_normalize_prediction("The answer is: yes") == "answer is: yes");

  // The EvalAI processor: lower case, "," and "?" deleted, "'s" split off, then the steps above.
  CHECK(evalai_normalize("Two dogs.") == "2 dogs");
  CHECK(evalai_normalize("The cat's toy") == "cat 's toy");
  CHECK(evalai_normalize("What's that?") == "what 's that");
  CHECK(evalai_normalize("1,000") == "1000");
  CHECK(evalai_normalize("whats up") == "what's up");
  CHECK(evalai_normalize("Black/White") == "black white");
  CHECK(evalai_normalize("  A\nDOG \t") == "dog");
  CHECK(evalai_normalize("Café") == "café");  // ASCII letters only are lower-cased
}

TEST_CASE("leave-one-out accuracy over 10 human answers", "[eval]") {
  auto ten = [](int k) {
    std::vector<std::string> h(10, "other");
    for (int i = 0; i < k; ++i) h[static_cast<size_t>(i)] = "x";
    return h;
  };
  // k matching humans: k of the 10 turns see k-1 matches, the other 10-k see k.
  CHECK(leave_one_out_accuracy("x", ten(0)) == 0.0);
  CHECK(leave_one_out_accuracy("x", ten(1)) == Approx(0.3).margin(1e-12));  // 9 x 1/3 / 10
  CHECK(leave_one_out_accuracy("x", ten(2)) == Approx(0.6).margin(1e-12));  // (2 x 1/3 + 8 x 2/3) / 10
  CHECK(leave_one_out_accuracy("x", ten(3)) == Approx(0.9).margin(1e-12));  // (3 x 2/3 + 7 x 1) / 10
  CHECK(leave_one_out_accuracy("x", ten(4)) == 1.0);
  CHECK(leave_one_out_accuracy("x", ten(10)) == 1.0);
}

TEST_CASE("vqav2: accuracy overall and per answer type, with the tool's asymmetric normalisation", "[eval]") {
  const auto dir = test::scratch_dir("eval_vqav2");
  auto rec = [](int id, const std::string& type, const std::string& qtype, const std::string& answers) {
    return "{\"question_id\": " + std::to_string(id) + ", \"answer_type\": \"" + type + "\", \"question_type\": \"" +
           qtype + "\", \"image_id\": 9, \"answers\": " + answers + "}";
  };
  const auto annotations = write(
      dir, "ann.json",
      "{\"annotations\": [" + rec(1, "yes/no", "is the", humans({{"yes", 10}})) + ", " +
          // "two" among the humans is not turned into "2": they only lose punctuation.
          rec(2, "number", "how many", humans({{"2", 2}, {"two", 1}, {"3", 7}})) + ", " +
          // the humans disagree, so "black-white" loses its hyphen and matches.
          rec(3, "other", "what color", humans({{"black-white", 3}, {"black white", 1}, {"gray", 6}})) + ", " +
          rec(4, "other", "what is", humans({{"dog", 1}, {"cat", 9}})) + "]}");
  const auto answers = write(dir, "answers.jsonl",
                             "{\"question_id\": 1, \"prompt\": \"p\", \"text\": \"Yes.\"}\n"
                             "{\"question_id\": 2, \"prompt\": \"p\", \"text\": \"two\"}\n"
                             "{\"question_id\": \"3\", \"prompt\": \"p\", \"text\": \"Black white\"}\n"
                             "{\"question_id\": 4, \"prompt\": \"p\", \"text\": \"A dog\"}\n");
  ScoreInputs in;
  in.answers = answers;
  in.annotations = annotations;
  const auto r = find_scorer("vqav2").score(in);
  // (1 + 0.6 + 1 + 0.3) / 4
  CHECK(r.metrics["overall"].get<double>() == Approx(72.5));
  CHECK(r.metrics["questions"] == 4);
  CHECK(r.metrics["perAnswerType"]["yes/no"].get<double>() == Approx(100.0));
  CHECK(r.metrics["perAnswerType"]["number"].get<double>() == Approx(60.0));
  CHECK(r.metrics["perAnswerType"]["other"].get<double>() == Approx(65.0));
  CHECK(r.metrics["perQuestionType"]["what color"].get<double>() == Approx(100.0));
  CHECK_THAT(r.table, test::contains("72.50"));

  SECTION("a subset through --questions") {
    in.questions = write(dir, "q.jsonl", "{\"question_id\": 2, \"image\": \"a.jpg\", \"text\": \"t\"}\n"
                                         "{\"question_id\": 4, \"image\": \"a.jpg\", \"text\": \"t\"}\n");
    const auto sub = score_vqav2(in);
    CHECK(sub.metrics["overall"].get<double>() == Approx(45.0));
    CHECK(sub.metrics["questions"] == 2);
  }
  SECTION("answers that do not cover the annotations name the first missing ids") {
    in.answers = write(dir, "short.jsonl", "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 3, \"text\": \"x\"}\n");
    REQUIRE_THROWS_WITH(score_vqav2(in), test::contains("2 of 4 questions have no answer; first missing ids: 2, 4"));
  }
  SECTION("a malformed answer line names file and line") {
    in.answers = write(dir, "bad.jsonl", "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 2, \"text\": \n");
    REQUIRE_THROWS_WITH(score_vqav2(in), test::contains("bad.jsonl:2: not valid JSON"));
  }
  SECTION("an answer for a question outside the annotations names its line") {
    in.answers = write(dir, "extra.jsonl", read(answers) + "{\"question_id\": 77, \"text\": \"x\"}\n");
    REQUIRE_THROWS_WITH(score_vqav2(in), test::contains("extra.jsonl:5: question 77 is not in"));
  }
  SECTION("a record without answers names the field") {
    in.annotations = write(dir, "ann_bad.json", "{\"annotations\": [{\"question_id\": 1, \"answer_type\": \"x\"}]}");
    in.answers = write(dir, "one.jsonl", "{\"question_id\": 1, \"text\": \"yes\"}\n");
    REQUIRE_THROWS_WITH(score_vqav2(in), test::contains("ann_bad.json: question 1: needs \"answers\""));
  }
}

TEST_CASE("vizwiz: prediction normalised, human answers as they are, records found by image", "[eval]") {
  const auto dir = test::scratch_dir("eval_vizwiz");
  auto rec = [](int i, const std::string& type, const std::string& answers) {
    return "{\"image\": \"VizWiz_val_0000000" + std::to_string(i) + ".jpg\", \"question\": \"q\", \"answer_type\": \"" +
           type + "\", \"answerable\": 1, \"answers\": " + answers + "}";
  };
  const auto annotations = write(dir, "val.json",
                                 "[" + rec(0, "unanswerable", humans({{"unanswerable", 10}})) + ", " +
                                     rec(1, "other", humans({{"black-white", 3}, {"gray", 7}})) + ", " +
                                     rec(2, "yes/no", humans({{"yes", 2}, {"no", 8}})) + "]");
  // Ids 0 and 2 are LLaVA's numbering (the i-th record); line 2 names its image instead.
  const auto answers = write(dir, "answers.jsonl",
                             "{\"question_id\": 0, \"text\": \"Unanswerable\"}\n"
                             "{\"question_id\": 55, \"text\": \"black-white\", \"metadata\": {\"image_file\": "
                             "\"VizWiz_val_00000001.jpg\"}}\n"
                             "{\"question_id\": 2, \"text\": \"yes\"}\n");
  ScoreInputs in;
  in.answers = answers;
  in.annotations = annotations;
  const auto r = score_vizwiz(in);
  // (1 + 0 + 0.6) / 3: "black-white" becomes "black white", the humans keep their hyphen.
  CHECK(r.metrics["overall"].get<double>() == Approx(53.33));
  CHECK(r.metrics["perAnswerType"]["unanswerable"].get<double>() == Approx(100.0));
  CHECK(r.metrics["perAnswerType"]["other"].get<double>() == Approx(0.0));
  CHECK(r.metrics["perAnswerType"]["yes/no"].get<double>() == Approx(60.0));

  SECTION("ids mapped through --questions; a missing image is named") {
    in.questions = write(dir, "q.jsonl", "{\"question_id\": 7, \"image\": \"VizWiz_val_00000002.jpg\", \"text\": \"t\"}\n"
                                         "{\"question_id\": 8, \"image\": \"VizWiz_val_00000000.jpg\", \"text\": \"t\"}\n");
    in.answers = write(dir, "a2.jsonl", "{\"question_id\": 7, \"text\": \"Yes\"}\n");
    REQUIRE_THROWS_WITH(score_vizwiz(in), test::contains("first missing ids: VizWiz_val_00000000.jpg"));
    in.answers = write(dir, "a3.jsonl", "{\"question_id\": 7, \"text\": \"Yes\"}\n{\"question_id\": 8, \"text\": \"no\"}\n");
    CHECK(score_vizwiz(in).metrics["overall"].get<double>() == Approx(30.0));  // (0.6 + 0) / 2
  }
  SECTION("an id past the records names the line") {
    in.answers = write(dir, "far.jsonl", "{\"question_id\": 3, \"text\": \"x\"}\n");
    REQUIRE_THROWS_WITH(score_vizwiz(in), test::contains("far.jsonl:1: question_id 3 is past the 3 records"));
  }
}

TEST_CASE("textvqa: the question is recovered from every prompt style", "[eval]") {
  const std::string q = "what is the brand?";
  const std::string ocr = "Reference OCR token: Dakota, Digital";
  const std::string inst = "Answer the question using a single word or phrase.";
  CHECK(textvqa_question("User: <image>\nWhat is the brand?\n" + ocr + "\n" + inst + "\n\nAssistant:", "w") == q);
  CHECK(textvqa_question("User: What is the brand?\n" + ocr + "\n" + inst + "\n<image>\n\nAssistant:", "w") == q);
  CHECK(textvqa_question("User: What is the brand?\n" + ocr + "\n<image>\nWhat is the brand?\n" + ocr + "\n" + inst +
                             "\n\nAssistant:",
                         "w") == q);
  // The original's plain prompts.
  CHECK(textvqa_question("What is the brand?\n" + ocr + "\n" + inst, "w") == q);
  CHECK(textvqa_question(ocr + "\nWhat is the brand?\n" + inst, "w") == q);
  CHECK(textvqa_question("What is the brand?\n" + inst, "w") == q);
  CHECK(textvqa_question("OCR tokens: Dakota, Digital. Question: What is the brand? Short answer:", "w") == q);
  REQUIRE_THROWS_WITH(textvqa_question("User: \n", "a.jsonl:3"), test::contains("a.jsonl:3: cannot find the question"));
}

TEST_CASE("textvqa: the m4c soft score, answers matched by image and question", "[eval]") {
  const auto dir = test::scratch_dir("eval_textvqa");
  const auto annotations = write(
      dir, "TextVQA_0.5.1_val.json",
      "{\"dataset_name\": \"textvqa\", \"data\": ["
      "{\"image_id\": \"img1\", \"question_id\": 10, \"question\": \"What is the brand?\", \"answers\": " +
          strings({{"Dakota", 3}, {"dakota digital", 7}}) +
          "}, "
          "{\"image_id\": \"img1\", \"question_id\": 11, \"question\": \"what year is it?\", \"answers\": " +
          strings({{"1,999", 1}, {"1999", 1}, {"2000", 8}}) +
          "}, "
          "{\"image_id\": \"img2\", \"question_id\": 12, \"question\": \"Who made it?\", \"answers\": " +
          strings({{"the acme co", 10}}) + "}]}");
  const std::string first = "{\"question_id\": \"img1\", \"prompt\": \"User: <image>\\nwhat is the brand?\\n"
                            "Reference OCR token: a, b\\nAnswer the question using a single word or phrase.\\n\\n"
                            "Assistant:\", \"text\": \"Dakota.\"}\n";
  const std::string last = "{\"question_id\": \"img1\", \"prompt\": \"User: what year is it?\\nReference OCR token: "
                           "1999\\nAnswer the question using a single word or phrase.\\n<image>\\n\\nAssistant:\", "
                           "\"text\": \"1999\"}\n";
  const std::string sandwich = "{\"question_id\": 99, \"prompt\": \"User: who made it?\\nReference OCR token: x\\n"
                               "<image>\\nwho made it?\\nReference OCR token: x\\nAnswer the question using a single "
                               "word or phrase.\\n\\nAssistant:\", \"text\": \"Acme Co\", \"metadata\": "
                               "{\"image_file\": \"img2.jpg\"}}\n";
  ScoreInputs in;
  in.annotations = annotations;
  in.answers = write(dir, "answers.jsonl", first + last + sandwich);
  const auto r = score_textvqa(in);
  // 3 of 10 agree: 0.9; "1,999" and "1999" both normalise to "1999": 2 of 10, 0.6; all 10: 1.
  CHECK(r.metrics["Samples"] == 3);
  CHECK(r.metrics["Accuracy"].get<double>() == Approx(250.0 / 3.0));
  CHECK_THAT(r.table, test::contains("83.33%"));

  SECTION("a repeated line: the last answer counts") {
    in.answers = write(dir, "rep.jsonl", first + last + sandwich + vrwkv::eval::text::replace_all(first, "Dakota.", "nikon"));
    const auto rep = score_textvqa(in);
    CHECK(rep.metrics["Samples"] == 3);
    CHECK(rep.metrics["Accuracy"].get<double>() == Approx(160.0 / 3.0));
  }
  SECTION("a missing question is named by its annotation id") {
    in.answers = write(dir, "short.jsonl", first + last);
    REQUIRE_THROWS_WITH(score_textvqa(in), test::contains("1 of 3 questions have no answer; first missing ids: 12"));
  }
  SECTION("an answer without an annotation names its line") {
    in.answers = write(dir, "odd.jsonl", first + vrwkv::eval::text::replace_all(last, "what year", "which year"));
    REQUIRE_THROWS_WITH(score_textvqa(in), test::contains("odd.jsonl:2: no annotation for image img1 and question "
                                                          "\"which year is it?\""));
  }
  SECTION("--questions picks the scored set") {
    in.questions = write(dir, "q.jsonl",
                         "{\"question_id\": \"img2\", \"image\": \"img2.jpg\", \"text\": \"Who made it?\\n"
                         "Reference OCR token: x\\nAnswer the question using a single word or phrase.\"}\n");
    in.answers = write(dir, "one.jsonl", sandwich);
    const auto one = score_textvqa(in);
    CHECK(one.metrics["Samples"] == 1);
    CHECK(one.metrics["Accuracy"].get<double>() == Approx(100.0));
  }
}

TEST_CASE("gqa: exact match after the clean-up, and the widened rule for an answers list", "[eval]") {
  CHECK(gqa_clean_prediction("Yes..") == "yes");
  CHECK(gqa_clean_prediction("U.S.") == "u.s");
  CHECK(gqa_clean_prediction(" Red ") == " red ");  // no stripping of spaces

  const auto dir = test::scratch_dir("eval_gqa");
  auto q = [](const std::string& answer, const std::string& structural, const std::string& semantic,
              const std::string& group, const std::string& extra = "") {
    return "{\"question\": \"q\", \"answer\": \"" + answer + "\", \"isBalanced\": true, \"types\": {\"structural\": \"" +
           structural + "\", \"semantic\": \"" + semantic + "\", \"detailed\": \"d\"}, \"groups\": {\"global\": " +
           group + "}" + extra + "}";
  };
  const auto annotations = write(
      dir, "testdev_balanced_questions.json",
      "{\"q1\": " + q("yes", "verify", "attr", "null") + ", \"q2\": " + q("red", "query", "attr", "\"color\"") +
          ", \"q3\": " + q("left", "choose", "rel", "null") + ", \"q4\": " +
          q("table", "query", "obj", "null", ", \"answers\": [\"table\", \"desk\"]") +
          ", \"q5\": {\"question\": \"q\", \"answer\": \"no\", \"isBalanced\": false}}");
  const auto answers = write(dir, "answers.jsonl",
                             "{\"question_id\": \"q1\", \"text\": \"Yes.\"}\n{\"question_id\": \"q2\", \"text\": \"Red\"}\n"
                             "{\"question_id\": \"q3\", \"text\": \"right\"}\n{\"question_id\": \"q4\", \"text\": \"Desk.\"}\n"
                             "{\"question_id\": \"q5\", \"text\": \"no\"}\n");
  ScoreInputs in;
  in.answers = answers;
  in.annotations = annotations;
  const auto r = score_gqa(in);
  CHECK(r.metrics["Accuracy"].get<double>() == Approx(75.0));  // q1, q2, q4 of the 4 balanced
  CHECK(r.metrics["Binary"].get<double>() == Approx(50.0));    // verify right, choose wrong
  CHECK(r.metrics["Open"].get<double>() == Approx(100.0));     // both queries
  CHECK(r.metrics["Distribution"].get<double>() == Approx(0.0));
  CHECK(r.metrics["questions"] == 4);
  CHECK(r.metrics["Accuracy / structural type"]["choose"]["accuracy"].get<double>() == Approx(0.0));
  CHECK(r.metrics["Accuracy / semantic type"]["attr"]["questions"] == 2);
  CHECK(r.notes.size() == 2);
  CHECK_THAT(r.notes[0], test::contains("1 questions carry an \"answers\" list"));

  SECTION("without the list the same answer is wrong") {
    in.annotations = write(dir, "plain.json", "{\"q4\": " + q("table", "query", "obj", "null") + "}");
    in.answers = write(dir, "a4.jsonl", "{\"question_id\": \"q4\", \"text\": \"Desk.\"}\n");
    CHECK(score_gqa(in).metrics["Accuracy"].get<double>() == Approx(0.0));
  }
  SECTION("every question needs an answer") {
    in.answers = write(dir, "short.jsonl", "{\"question_id\": \"q1\", \"text\": \"yes\"}\n");
    REQUIRE_THROWS_WITH(score_gqa(in), test::contains("4 of 5 questions have no answer; first missing ids: q2, q3, q4, q5"));
  }
}

TEST_CASE("submission files: VQAv2, VizWiz and MM-Vet as the original writes them", "[eval]") {
  const auto dir = test::scratch_dir("eval_submit");
  ScoreInputs in;
  SECTION("vqav2: every question, normalised answers, missing ones empty") {
    in.questions = write(dir, "test.jsonl",
                         "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"t\"}\n"
                         "{\"question_id\": 2, \"image\": \"b.jpg\", \"text\": \"t\"}\n"
                         "{\"question_id\": 3, \"image\": \"c.jpg\", \"text\": \"t\"}\n");
    in.answers = write(dir, "a.jsonl", "{\"question_id\": 3, \"text\": \"The cat's toy\"}\n"
                                       "{\"question_id\": 1, \"text\": \"Two dogs.\"}\n");
    in.submission = (dir / "up" / "vqav2.json").string();
    const auto r = find_scorer("vqav2-submit").score(in);
    CHECK(read(in.submission) == "[{\"question_id\": 1, \"answer\": \"2 dogs\"}, {\"question_id\": 2, \"answer\": \"\"}, "
                                 "{\"question_id\": 3, \"answer\": \"cat 's toy\"}]");
    CHECK(r.metrics["missing"] == 1);
    CHECK_THAT(r.notes[0], test::contains("1 of 3 questions have no answer"));
    CHECK(!fs::exists(in.submission + ".tmp"));
  }
  SECTION("vizwiz: image and answer, every question answered") {
    in.questions = write(dir, "llava_test.jsonl",
                         "{\"question_id\": 0, \"image\": \"VizWiz_test_00000000.jpg\", \"text\": \"t\"}\n"
                         "{\"question_id\": 1, \"image\": \"VizWiz_test_00000001.jpg\", \"text\": \"t\"}\n");
    in.answers = write(dir, "a.jsonl", "{\"question_id\": 0, \"text\": \"Unanswerable\"}\n"
                                       "{\"question_id\": 1, \"text\": \"Caf\\u00e9\"}\n");
    in.submission = (dir / "vizwiz.json").string();
    submit_vizwiz(in);
    CHECK(read(in.submission) == "[{\"image\": \"VizWiz_test_00000000.jpg\", \"answer\": \"unanswerable\"}, "
                                 "{\"image\": \"VizWiz_test_00000001.jpg\", \"answer\": \"caf\\u00e9\"}]");
    in.answers = write(dir, "short.jsonl", "{\"question_id\": 1, \"text\": \"x\"}\n");
    REQUIRE_THROWS_WITH(submit_vizwiz(in), test::contains("1 of 2 questions have no answer; first missing ids: 0"));
  }
  SECTION("mmvet: {v1_<id>: answer}, a repeated id keeps its place and its last answer") {
    in.answers = write(dir, "a.jsonl", "{\"question_id\": 0, \"text\": \"A cat.\"}\n{\"question_id\": 1, \"text\": \"x\"}\n"
                                       "{\"question_id\": 0, \"text\": \"A dog.\"}\n");
    in.submission = (dir / "mmvet.json").string();
    const auto r = submit_mmvet(in);
    CHECK(read(in.submission) == "{\n  \"v1_0\": \"A dog.\",\n  \"v1_1\": \"x\"\n}");
    CHECK(r.metrics["questions"] == 2);
  }
  SECTION("a missing option is named") {
    in.answers = write(dir, "a.jsonl", "");
    REQUIRE_THROWS_WITH(submit_mmvet(in), test::contains("mmvet-submit needs --submission"));
  }
}
