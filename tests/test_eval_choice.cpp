// Benchmark question readers (JSON Lines, ScienceQA, MMBench TSV with base64 images) and the
// multiple-choice / yes-no scorers (ScienceQA, POPE, MME, the MMBench upload spreadsheet), on small
// files written here with the figures worked out by hand.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "eval/answers.h"
#include "eval/choice_parse.h"
#include "eval/questions.h"
#include "eval/score.h"
#include "eval/tsv.h"
#include "eval/xlsx_writer.h"
#include "eval/yes_no.h"
#include "test_paths.h"

namespace {

namespace fs = std::filesystem;
using vrwkv::Error;
using vrwkv::eval::Question;
using vrwkv::eval::QuestionFormat;
using vrwkv::eval::read_questions;
using vrwkv::test::contains;

void write(const fs::path& p, const std::string& body) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << body;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message of the Error `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Base64 written by hand here (the reader's decoder is what is tested).
std::string b64(const std::string& bytes) {
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlpha[(v >> s) & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

const std::string kSuffixEn = "Answer with the option's letter from the given choices directly.";
const std::string kSuffixCn = "请直接回答选项字母。";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Readers

TEST_CASE("question reader: JSON Lines", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_q_jsonl");
  const auto path = dir / "q.jsonl";
  write(path,
        "{\"question_id\": 7, \"image\": \"a/b.jpg\", \"text\": \"What is it?\\nAnswer the question using a single "
        "word or phrase.\", \"category\": \"adversarial\"}\n"
        "\n"
        "{\"id\": \"x-2\", \"text\": \"<image>\\n  Count them. \"}\n"
        "{\"index\": 3, \"image\": \"c.png\", \"text\": \"Q3\"}\r\n");
  REQUIRE(vrwkv::eval::question_format_from_string("auto", path.string()) == QuestionFormat::kJsonLines);
  const auto qs = read_questions(path.string(), QuestionFormat::kJsonLines);
  REQUIRE(qs.size() == 3);
  CHECK(qs[0].question_id == 7);
  CHECK(qs[0].text == "What is it?\nAnswer the question using a single word or phrase.");
  CHECK(qs[0].image_path == "a/b.jpg");
  CHECK(qs[0].has_image());
  CHECK(qs[0].metadata["category"] == "adversarial");
  CHECK(qs[0].metadata["image_file"] == "a/b.jpg");
  CHECK(qs[0].where == path.string() + ":1");
  CHECK(qs[1].question_id == "x-2");
  CHECK(qs[1].text == "Count them.");  // "<image>" removed, trimmed
  CHECK_FALSE(qs[1].has_image());
  CHECK_FALSE(qs[1].metadata.contains("category"));
  CHECK(qs[1].metadata["image_file"].is_null());
  CHECK(qs[1].where == path.string() + ":3");
  CHECK(qs[2].question_id == 3);
  CHECK(qs[2].where == path.string() + ":4");

  write(dir / "bad1.jsonl", "{\"question_id\": 1, \"text\": \"ok\"}\n{\"question_id\": 2, \"text\": \"no close\"\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad1.jsonl").string(), QuestionFormat::kJsonLines); }),
             contains("bad1.jsonl:2: not valid JSON"));
  write(dir / "bad2.jsonl", "{\"question_id\": 1, \"text\": \"ok\"}\n\n{\"image\": \"x.jpg\", \"text\": \"no id\"}\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad2.jsonl").string(), QuestionFormat::kJsonLines); }),
             contains("bad2.jsonl:3: no question id"));
  write(dir / "bad3.jsonl", "{\"question_id\": 1, \"text\": 5}\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad3.jsonl").string(), QuestionFormat::kJsonLines); }),
             contains("bad3.jsonl:1: field \"text\""));
  write(dir / "bad4.jsonl", "{\"question_id\": 1, \"image\": \"x\"}\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad4.jsonl").string(), QuestionFormat::kJsonLines); }),
             contains("bad4.jsonl:1: no question text"));
  CHECK_THAT(error_of([&] { read_questions((dir / "missing.jsonl").string(), QuestionFormat::kJsonLines); }),
             contains("missing.jsonl: cannot open"));
}

TEST_CASE("question reader: ScienceQA conversations", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_q_sqa");
  const auto path = dir / "llava_test_CQM-A.json";
  write(path, R"([
  {"id": "4", "image": "4/image.png", "conversations": [
     {"from": "human", "value": "<image>\nContext: A dog.\nQuestion: Which is it?\nOptions: (A) cat (B) dog"},
     {"from": "gpt", "value": "The answer is B."}]},
  {"id": "5", "conversations": [
     {"from": "human", "value": "Context: N/A\nQuestion: Which word?\nOptions: (A) x (B) y\n"},
     {"from": "gpt", "value": "A"}]}
])");
  REQUIRE(vrwkv::eval::question_format_from_string("auto", path.string()) == QuestionFormat::kScienceQA);
  const auto qs = read_questions(path.string(), QuestionFormat::kScienceQA);
  REQUIRE(qs.size() == 2);
  CHECK(qs[0].question_id == "4");
  CHECK(qs[0].text == "Context: A dog.\nQuestion: Which is it?\nOptions: (A) cat (B) dog");
  CHECK(qs[0].image_path == "4/image.png");
  CHECK(qs[0].metadata["image_file"] == "4/image.png");
  CHECK(qs[1].question_id == "5");
  CHECK(qs[1].text == "Context: N/A\nQuestion: Which word?\nOptions: (A) x (B) y");
  CHECK_FALSE(qs[1].has_image());
  CHECK(qs[1].metadata["image_file"].is_null());
  CHECK(qs[1].where == path.string() + ":record 1");

  write(dir / "bad.json", R"([{"id": "1", "conversations": [{"from": "human", "value": "q"}]},
                             {"id": "2", "conversations": []}])");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad.json").string(), QuestionFormat::kScienceQA); }),
             contains("bad.json:record 1: field \"conversations\""));
  write(dir / "bad2.json", R"({"id": "1"})");
  CHECK_THAT(error_of([&] { read_questions((dir / "bad2.json").string(), QuestionFormat::kScienceQA); }),
             contains("bad2.json: a ScienceQA question file is a JSON array"));
}

TEST_CASE("base64 decoder", "[eval]") {
  using vrwkv::eval::base64_decode;
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n : {0, 1, 2, 3, 4, 5, 255, 256}) CHECK(base64_decode(b64(all.substr(0, n)), "t") == all.substr(0, n));
  CHECK(base64_decode("TWFu", "t") == "Man");
  CHECK(base64_decode("TWE=", "t") == "Ma");
  CHECK(base64_decode("TQ==", "t") == "M");
  CHECK(base64_decode("TW\nFu\r\n", "t") == "Man");  // line breaks skipped
  CHECK_THAT(error_of([] { base64_decode("TW*u", "f.tsv:3: field \"image\""); }),
             contains("f.tsv:3: field \"image\": character 3 ('*') is not base64"));
  CHECK_THAT(error_of([] { base64_decode("TWF", "w"); }), contains("bad padding"));
  CHECK_THAT(error_of([] { base64_decode("TQ=", "w"); }), contains("bad padding"));
  CHECK_THAT(error_of([] { base64_decode("T===", "w"); }), contains("out of place"));
  CHECK_THAT(error_of([] { base64_decode("TQ==TWFu", "w"); }), contains("after the '=' padding"));
}

TEST_CASE("TSV reader: plain and quoted fields", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_tsv");
  const auto path = dir / "t.tsv";
  write(path,
        "a\tb\tc\r\n"
        "1\tplain\t\n"
        "\n"
        "2\t\"has\ttab and\nnewline\"\t\"say \"\"hi\"\"\"\n"
        "3\tmid\"quote\t\"x\"y\n"
        "4\tshort\n");
  const auto t = vrwkv::eval::read_tsv(path.string());
  REQUIRE(t.columns == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(t.rows.size() == 4);
  CHECK(t.rows[0].cells == std::vector<std::string>{"1", "plain", ""});
  CHECK(t.rows[0].line == 2);
  CHECK(t.rows[1].cells == std::vector<std::string>{"2", "has\ttab and\nnewline", "say \"hi\""});
  CHECK(t.rows[1].line == 4);
  CHECK(t.rows[2].cells == std::vector<std::string>{"3", "mid\"quote", "xy"});
  CHECK(t.rows[2].line == 6);  // the quoted newline moved it down one line
  CHECK(t.rows[3].cells == std::vector<std::string>{"4", "short", ""});
  CHECK(t.column("c") == 2);
  CHECK(t.column("zz") == -1);

  write(dir / "wide.tsv", "a\tb\n1\t2\n3\t4\t5\n");
  CHECK_THAT(error_of([&] { vrwkv::eval::read_tsv((dir / "wide.tsv").string()); }),
             contains("wide.tsv:3: 3 fields where the header has 2"));
  write(dir / "open.tsv", "a\tb\n1\t2\n3\t\"never closed\n");
  CHECK_THAT(error_of([&] { vrwkv::eval::read_tsv((dir / "open.tsv").string()); }),
             contains("open.tsv:3: the file ends inside a quoted field"));

  using vrwkv::eval::is_missing_cell;
  for (const char* na : {"", "nan", "NaN", "NA", "N/A", "None", "none", "NONE", "null", "#N/A"})
    CHECK(is_missing_cell(na));
  for (const char* v : {"0", "no", "Nan.", " nan", "A"}) CHECK_FALSE(is_missing_cell(v));
}

TEST_CASE("question reader: MMBench TSV (EN, CN, hints, options, images)", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_q_mmbench");
  const std::string png1 = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + "one";
  const std::string png2 = std::string("\xff\xd8\xff\xe0\0\x10JFIF\0", 11) + "\x01\x02\xfe";
  const std::string header =
      "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n";
  const auto path = dir / "mmbench_dev_20230712.tsv";
  write(path, header +
                  // hint present; all four options
                  "10\tWhat is shown?\tLook closely.\tcat\tdog\tbird\tfish\tB\tobject\t" + b64(png1) +
                  "\tsrc\tl2\t\tdev\n" +
                  // hint NaN; option C missing ("nan") so D is not listed either; quoted question with a tab
                  "11\t\"Which\tone?\"\tnan\tyes\tno\tnan\tmaybe\tA\tattr\t" + b64(png2) + "\tsrc\tl2b\t\tdev\n" +
                  // hint empty (NaN), only A and B; the image is a reference to row 10
                  "12\tPick.\t\tup\tdown\t\t\tA\tattr\t10\tsrc\tl2b\t\tdev\n");
  REQUIRE(vrwkv::eval::question_format_from_string("auto", path.string()) == QuestionFormat::kMMBench);
  const auto qs = read_questions(path.string(), QuestionFormat::kMMBench);
  REQUIRE(qs.size() == 3);
  CHECK(qs[0].question_id == 10);
  CHECK(qs[0].text == "Look closely.\nWhat is shown?\nA. cat\nB. dog\nC. bird\nD. fish\n" + kSuffixEn);
  CHECK(qs[0].image_bytes == png1);
  CHECK(qs[0].image_path.empty());
  CHECK(qs[0].has_image());
  CHECK(qs[0].where == path.string() + ":2");
  CHECK(qs[0].metadata["index"] == 10);
  CHECK(qs[0].metadata["hint"] == "Look closely.");
  CHECK(qs[0].metadata["D"] == "fish");
  CHECK(qs[0].metadata["answer"] == "B");
  CHECK(qs[0].metadata["category"] == "object");
  CHECK(qs[0].metadata["l2-category"] == "l2");
  CHECK(qs[0].metadata["split"] == "dev");
  CHECK(qs[0].metadata["source"] == "src");
  CHECK_FALSE(qs[0].metadata.contains("image"));
  CHECK(qs[1].text == "Which\tone?\nA. yes\nB. no\n" + kSuffixEn);
  CHECK(qs[1].image_bytes == png2);
  CHECK(qs[1].metadata["hint"].is_null());
  CHECK(qs[1].metadata["C"].is_null());
  CHECK(qs[1].metadata["D"] == "maybe");
  CHECK(qs[2].text == "Pick.\nA. up\nB. down\n" + kSuffixEn);
  CHECK(qs[2].image_bytes == png1);
  CHECK(qs[2].where == path.string() + ":4");

  // The CN variant: by file name, and by the text when the name does not say.
  const std::string cn_rows = header + "1\t图中是什么？\t\t猫\t狗\t\t\tA\tobj\t" + b64(png1) + "\ts\tl\t\tdev\n" +
                              "2\t哪个？\t提示\t是\t否\t\t\tB\tobj\t" + b64(png2) + "\ts\tl\t\tdev\n";
  write(dir / "MMBench_DEV_CN.tsv", cn_rows);
  write(dir / "mmb_other.tsv", cn_rows);
  CHECK(vrwkv::eval::question_format_from_string("auto", (dir / "MMBench_DEV_CN.tsv").string()) ==
        QuestionFormat::kMMBenchCN);
  CHECK(vrwkv::eval::question_format_from_string("auto", (dir / "mmb_other.tsv").string()) ==
        QuestionFormat::kMMBenchCN);
  CHECK(vrwkv::eval::question_format_from_string("mmbench", (dir / "mmb_other.tsv").string()) ==
        QuestionFormat::kMMBench);
  const auto cn = read_questions((dir / "MMBench_DEV_CN.tsv").string(), QuestionFormat::kMMBenchCN);
  REQUIRE(cn.size() == 2);
  CHECK(cn[0].text == "图中是什么？\nA. 猫\nB. 狗\n" + kSuffixCn);
  CHECK(cn[1].text == "提示\n哪个？\nA. 是\nB. 否\n" + kSuffixCn);

  // Malformed rows are named by file and line.
  write(dir / "badimg.tsv", header + "1\tq\t\ta\tb\t\t\tA\tc\t" + b64(png1) + "\ts\tl\t\tdev\n" +
                                "2\tq\t\ta\tb\t\t\tA\tc\tnot*base64\ts\tl\t\tdev\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "badimg.tsv").string(), QuestionFormat::kMMBench); }),
             contains("badimg.tsv:3: field \"image\": character 4 ('*') is not base64"));
  write(dir / "noq.tsv", header + "1\t\t\ta\tb\t\t\tA\tc\t" + b64(png1) + "\ts\tl\t\tdev\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "noq.tsv").string(), QuestionFormat::kMMBench); }),
             contains("noq.tsv:2: field \"question\" is empty"));
  write(dir / "nocol.tsv", "index\tquestion\tA\tB\n1\tq\ta\tb\n");
  CHECK_THAT(error_of([&] { read_questions((dir / "nocol.tsv").string(), QuestionFormat::kMMBench); }),
             contains("nocol.tsv:1: an MMBench file needs an \"image\" column"));
  CHECK_THAT(error_of([&] { vrwkv::eval::question_format_from_string("auto", "x.csv"); }),
             contains("x.csv: cannot tell the question format"));
  CHECK_THAT(error_of([&] { vrwkv::eval::question_format_from_string("yaml", "x.jsonl"); }),
             contains("unknown question format 'yaml'"));
}

// ---------------------------------------------------------------------------------------------
// ScienceQA

TEST_CASE("ScienceQA: the three letter rules", "[eval]") {
  using vrwkv::eval::parse_choice_letter;
  const std::string o = "ABCDE";
  CHECK(parse_choice_letter("A", o) == "A");
  CHECK(parse_choice_letter("E", o) == "E");
  CHECK(parse_choice_letter("F", o) == "FAILED");  // not an option, and no other rule applies
  CHECK(parse_choice_letter("a", o) == "FAILED");
  CHECK(parse_choice_letter("C. blue", o) == "C");
  CHECK(parse_choice_letter("C.", o) == "FAILED");     // rule 2 needs ". " after the letter
  CHECK(parse_choice_letter("C) blue", o) == "FAILED");
  CHECK(parse_choice_letter("Because ... The answer is B.", o) == "B");
  CHECK(parse_choice_letter("The answer is Z!", o) == "Z");  // any capital, any following character
  CHECK(parse_choice_letter("The answer is B", o) == "FAILED");    // the following character is required
  CHECK(parse_choice_letter("The answer is B\n", o) == "FAILED");  // ... and may not be a line break
  CHECK(parse_choice_letter("The answer is B\xC3\xA9", o) == "B");  // a multi-byte character counts as one
  CHECK(parse_choice_letter("The answer is A. Or: The answer is B.", o) == "FAILED");  // two matches
  CHECK(parse_choice_letter("The answer is b.", o) == "FAILED");
}

TEST_CASE("ScienceQA: accuracy, FAILED, missing answers, image accuracy", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_sqa");
  write(dir / "ann" / "pid_splits.json", R"({"train": ["9"], "test": ["1","2","3","4","5","6","7","8"]})");
  // answer: the index of the right choice
  write(dir / "ann" / "problems.json", R"({
    "1": {"choices": ["x","y"], "answer": 1}, "2": {"choices": ["cat","dog"], "answer": 0},
    "3": {"choices": ["p","q","r"], "answer": 2}, "4": {"choices": ["p","q"], "answer": 0},
    "5": {"choices": ["p","q"], "answer": 1}, "6": {"choices": ["p","q"], "answer": 0},
    "7": {"choices": ["p","q"], "answer": 1}, "8": {"choices": ["p","q","r"], "answer": 2},
    "9": {"choices": ["p","q"], "answer": 0}})");
  write(dir / "a.jsonl",
        // 1: answered twice, the last line counts: "B" = choice 1, right, image
        "{\"question_id\": \"1\", \"prompt\": \"<image>\\nQ1\", \"text\": \"A\"}\n"
        "{\"question_id\": \"1\", \"prompt\": \"<image>\\nQ1\", \"text\": \"B\"}\n"
        // 2: "A. cat" = choice 0, right, image
        "{\"question_id\": \"2\", \"prompt\": \"User: <image>\\nQ2\", \"text\": \"A. cat\"}\n"
        // 3: the answer sentence, C = choice 2, right, no image
        "{\"question_id\": 3, \"prompt\": \"Q3\", \"text\": \"Since r. The answer is C.\"}\n"
        // 4: two answer sentences: FAILED, wrong, image
        "{\"question_id\": \"4\", \"prompt\": \"<image> Q4\", \"text\": \"The answer is A. The answer is B.\"}\n"
        // 5: E is past the two choices: wrong (but parsed), no image
        "{\"question_id\": \"5\", \"prompt\": \"Q5\", \"text\": \"The answer is E.\"}\n"
        // 6: no line at all: FAILED, wrong, not an image question
        // 7: lower-case letter: FAILED, wrong, image
        "{\"question_id\": \"7\", \"prompt\": \"<image>\\nQ7\", \"text\": \"b\"}\n"
        // 8: D is an option letter but there are three choices: wrong, no image
        "{\"question_id\": \"8\", \"prompt\": \"Q8\", \"text\": \"D\"}\n"
        // 9: train split, not scored
        "{\"question_id\": \"9\", \"prompt\": \"<image>\", \"text\": \"A\"}\n");
  vrwkv::eval::ScoreInputs in;
  in.answers = (dir / "a.jsonl").string();
  in.annotations = (dir / "ann").string();
  const auto r = vrwkv::eval::score_scienceqa(in);
  CHECK(r.metrics["total"] == 8);
  CHECK(r.metrics["correct"] == 3);
  CHECK(r.metrics["accuracy"].get<double>() == Approx(37.5));
  CHECK(r.metrics["failed"] == 3);  // 4, 6, 7
  CHECK(r.metrics["missing"] == 1);
  CHECK(r.metrics["img_total"] == 4);  // 1, 2, 4, 7
  CHECK(r.metrics["img_correct"] == 2);
  CHECK(r.metrics["img_accuracy"].get<double>() == Approx(50.0));
  CHECK_THAT(r.table, contains("Accuracy: 37.50%, IMG-Accuracy: 50.00%"));
  REQUIRE(r.notes.size() == 2);
  CHECK_THAT(r.notes[0], contains("3 of 8 answers gave no option letter"));
  CHECK_THAT(r.notes[1], contains("first: 6"));

  write(dir / "bad" / "pid_splits.json", R"({"test": ["1", "77"]})");
  write(dir / "bad" / "problems.json", R"({"1": {"choices": ["x"], "answer": 0}})");
  in.annotations = (dir / "bad").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_scienceqa(in); }), contains("problems.json: no problem \"77\""));
}

// ---------------------------------------------------------------------------------------------
// POPE

TEST_CASE("POPE: the yes/no rule", "[eval]") {
  using vrwkv::eval::pope_says_yes;
  CHECK(pope_says_yes("Yes"));
  CHECK(pope_says_yes("Yes, there is a dog."));
  CHECK_FALSE(pope_says_yes("No"));
  CHECK_FALSE(pope_says_yes("no."));
  CHECK_FALSE(pope_says_yes("No, there is not."));
  CHECK_FALSE(pope_says_yes("I do not see one"));
  CHECK_FALSE(pope_says_yes("There is no cat. Yes"));  // only the first sentence counts
  CHECK(pope_says_yes("Yes. No"));
  CHECK(pope_says_yes("Not really"));  // "Not" is not one of the words
  CHECK(pope_says_yes("Nope"));
  CHECK(pope_says_yes("No,there"));  // the comma goes, leaving "Nothere"
  CHECK(pope_says_yes("No\nthere"));  // split at spaces only
  CHECK(pope_says_yes(""));
}

TEST_CASE("POPE: per-category confusion matrix and averages", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_pope");
  write(dir / "coco" / "coco_pope_adversarial.json",
        "{\"question_id\": 1, \"image\": \"a1.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\"}\n"
        "{\"question_id\": 2, \"image\": \"a2.jpg\", \"text\": \"?\", \"label\": \"yes\"}\n"
        "{\"question_id\": 3, \"image\": \"a3.jpg\", \"text\": \"?\", \"label\": \"no\"}\n"
        "{\"question_id\": 4, \"image\": \"a4.jpg\", \"text\": \"?\", \"label\": \"no\"}\n");
  write(dir / "coco" / "coco_pope_random.json",
        "{\"question_id\": 1, \"image\": \"r1.jpg\", \"label\": \"yes\"}\n"
        "{\"question_id\": 2, \"image\": \"r2.jpg\", \"label\": \"yes\"}\n"
        "{\"question_id\": 3, \"image\": \"r3.jpg\", \"label\": \"yes\"}\n"
        "{\"question_id\": 4, \"image\": \"r4.jpg\", \"label\": \"no\"}\n");
  write(dir / "coco" / "notes.txt", "not a label file\n");
  std::string q;
  for (int i = 1; i <= 4; ++i)
    q += "{\"question_id\": " + std::to_string(i) + ", \"image\": \"val2014/a" + std::to_string(i) +
         ".jpg\", \"text\": \"?\", \"category\": \"adversarial\"}\n";
  for (int i = 1; i <= 4; ++i)
    q += "{\"question_id\": " + std::to_string(10 + i) + ", \"image\": \"r" + std::to_string(i) +
         ".jpg\", \"text\": \"?\", \"category\": \"random\"}\n";
  q += "{\"question_id\": 99, \"image\": \"p.jpg\", \"text\": \"?\", \"category\": \"popular\"}\n";
  write(dir / "q.jsonl", q);
  // adversarial (labels yes yes no no): yes, no, no, yes -> TP 1, FN 1, TN 1, FP 1
  // random (labels yes yes yes no): yes, yes, yes ("Not" is no "not"), no -> TP 3, TN 1
  write(dir / "a.jsonl",
        "{\"question_id\": 11, \"text\": \"yes\"}\n"
        "{\"question_id\": 1, \"text\": \"Yes, there is a dog.\"}\n"
        "{\"question_id\": 2, \"text\": \"No.\"}\n"
        "{\"question_id\": 3, \"text\": \"There is no cat. Yes\"}\n"
        "{\"question_id\": 4, \"text\": \"Yes\"}\n"
        "{\"question_id\": 12, \"text\": \"Yes it is\"}\n"
        "{\"question_id\": 13, \"text\": \"Not really\"}\n"
        "{\"question_id\": 14, \"text\": \"No, it is not.\"}\n");
  vrwkv::eval::ScoreInputs in;
  in.answers = (dir / "a.jsonl").string();
  in.annotations = (dir / "coco").string();
  in.questions = (dir / "q.jsonl").string();
  const auto r = vrwkv::eval::score_pope(in);
  const auto& adv = r.metrics["adversarial"];
  CHECK(adv["samples"] == 4);
  CHECK(adv["TP"] == 1);
  CHECK(adv["FP"] == 1);
  CHECK(adv["TN"] == 1);
  CHECK(adv["FN"] == 1);
  CHECK(adv["accuracy"].get<double>() == Approx(0.5));
  CHECK(adv["precision"].get<double>() == Approx(0.5));
  CHECK(adv["recall"].get<double>() == Approx(0.5));
  CHECK(adv["f1"].get<double>() == Approx(0.5));
  CHECK(adv["yes_ratio"].get<double>() == Approx(0.5));
  const auto& rnd = r.metrics["random"];
  CHECK(rnd["TP"] == 3);
  CHECK(rnd["FP"] == 0);
  CHECK(rnd["TN"] == 1);
  CHECK(rnd["FN"] == 0);
  CHECK(rnd["accuracy"].get<double>() == Approx(1.0));
  CHECK(rnd["f1"].get<double>() == Approx(1.0));
  CHECK(rnd["yes_ratio"].get<double>() == Approx(0.75));
  CHECK_FALSE(r.metrics.contains("popular"));
  const auto& avg = r.metrics["average"];
  CHECK(avg["f1"].get<double>() == Approx(0.75));
  CHECK(avg["accuracy"].get<double>() == Approx(0.75));
  CHECK(avg["precision"].get<double>() == Approx(0.75));
  CHECK(avg["recall"].get<double>() == Approx(0.75));
  CHECK(avg["yes_ratio"].get<double>() == Approx(0.625));
  REQUIRE(r.notes.size() == 1);
  CHECK_THAT(r.notes[0], contains("1 questions belong to no coco_pope_"));
  CHECK_THAT(r.table, contains("Category: adversarial, # samples: 4"));

  // Labels paired in order: a question out of order is caught by its image.
  write(dir / "q2.jsonl", slurp(dir / "q.jsonl").replace(q.find("a1.jpg"), 6, "a9.jpg"));
  in.questions = (dir / "q2.jsonl").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_pope(in); }),
             contains("coco_pope_adversarial.json:1: image \"a1.jpg\""));
  // An unanswered question is an error.
  in.questions = (dir / "q.jsonl").string();
  write(dir / "a2.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  in.answers = (dir / "a2.jsonl").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_pope(in); }), contains("questions have no answer"));
}

// ---------------------------------------------------------------------------------------------
// MME

TEST_CASE("MME: the yes/no reading", "[eval]") {
  using vrwkv::eval::mme_yes_no;
  CHECK(mme_yes_no("Yes") == "yes");
  CHECK(mme_yes_no("NO") == "no");
  CHECK(mme_yes_no("Yes, it is.") == "yes");
  CHECK(mme_yes_no("Not sure") == "no");  // "no" within "not "
  CHECK(mme_yes_no("  no") == "no");
  CHECK(mme_yes_no("I say yes") == "other");  // past the first four characters
  CHECK(mme_yes_no("") == "other");
  CHECK(mme_yes_no("\xF0\x9F\x98\x80yes") == "yes");  // four characters, not four bytes
  CHECK(mme_yes_no("\xF0\x9F\x98\x80\xF0\x9F\x98\x80yes") == "other");
}

TEST_CASE("MME: acc, acc+, subtask scores and totals", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_mme");
  const auto root = dir / "MME_Benchmark_release_version";
  write(root / "existence" / "1.txt",
        "Is there a dog? Please answer yes or no.\tYes\nIs there a cat? Please answer yes or no.\tNo\n");
  write(root / "existence" / "2.txt",
        "Is there a car? Please answer yes or no.\tyes\r\nIs there a bus?  Please answer yes or no.\tno\r\n");
  write(root / "existence" / "1.jpg", "jpg");
  write(root / "artwork" / "images" / "10.jpg", "jpg");
  write(root / "artwork" / "questions_answers_YN" / "10.txt",
        "Is this by Monet? Please answer yes or no.\tYes\nIs this by Dali? Please answer yes or no.\tNo");
  write(root / "code_reasoning" / "5.txt",
        "Is the output 3? Please answer yes or no.\tyes\nIs the output 4? Please answer yes or no.\tno\n");
  write(dir / "llava_mme.jsonl",
        "{\"question_id\": \"existence/1.jpg\", \"image\": \"existence/1.jpg\", \"text\": \"Is there a dog?\\nAnswer "
        "the question using a single word or phrase.\", \"category\": \"existence\"}\n"
        "{\"question_id\": \"existence/1.jpg\", \"image\": \"existence/1.jpg\", \"text\": \"Is there a cat? Please "
        "answer yes or no.\", \"category\": \"existence\"}\n"
        "{\"question_id\": \"existence/2.jpg\", \"image\": \"existence/2.jpg\", \"text\": \"Is there a car?\"}\n"
        "{\"question_id\": \"existence/2.jpg\", \"image\": \"existence/2.jpg\", \"text\": \"Is there a bus?\"}\n"
        "{\"question_id\": \"artwork/10.jpg\", \"image\": \"artwork/images/10.jpg\", \"text\": \"Is this by "
        "Monet?\"}\n"
        "{\"question_id\": \"artwork/10.jpg\", \"image\": \"artwork/images/10.jpg\", \"text\": \"Is this by Dali?\"}\n"
        "{\"question_id\": \"code_reasoning/5.png\", \"image\": \"code_reasoning/5.png\", \"text\": \"Is the output "
        "3?\"}\n"
        "{\"question_id\": \"code_reasoning/5.png\", \"image\": \"code_reasoning/5.png\", \"text\": \"Is the output "
        "4?\"}\n");
  // existence: image 1 both right (answered in the other order, told apart by the prompts), image 2
  //   one right (bus: yes, truth no): acc 3/4 = 75, acc+ 1/2 = 50, score 125.
  // artwork: "I think yes" is neither (first four characters "i th"), Dali right: acc 50, acc+ 0, score 50.
  // code_reasoning: both right: 200.
  write(dir / "a.jsonl",
        "{\"question_id\": \"existence/1.jpg\", \"prompt\": \"User: <image>\\nIs there a cat? Please answer yes or "
        "no.\\n\\nAssistant:\", \"text\": \"No, there is no cat\"}\n"
        "{\"question_id\": \"existence/1.jpg\", \"prompt\": \"User: <image>\\nIs there a dog?\\nAnswer the question "
        "using a single word or phrase.\\n\\nAssistant:\", \"text\": \"Yes\"}\n"
        "{\"question_id\": \"existence/2.jpg\", \"text\": \"yes\"}\n"
        "{\"question_id\": \"existence/2.jpg\", \"text\": \"Yes\"}\n"
        "{\"question_id\": \"artwork/10.jpg\", \"text\": \"I think yes\"}\n"
        "{\"question_id\": \"artwork/10.jpg\", \"text\": \"no\"}\n"
        "{\"question_id\": \"code_reasoning/5.png\", \"text\": \"Yes\"}\n"
        "{\"question_id\": \"code_reasoning/5.png\", \"text\": \"No\"}\n");
  vrwkv::eval::ScoreInputs in;
  in.answers = (dir / "a.jsonl").string();
  in.annotations = root.string();
  in.questions = (dir / "llava_mme.jsonl").string();
  const auto r = vrwkv::eval::score_mme(in);
  const auto& sub = r.metrics["subtasks"];
  CHECK(sub["existence"]["acc"].get<double>() == Approx(75.0));
  CHECK(sub["existence"]["acc_plus"].get<double>() == Approx(50.0));
  CHECK(sub["existence"]["score"].get<double>() == Approx(125.0));
  CHECK(sub["existence"]["questions"] == 4);
  CHECK(sub["existence"]["images"] == 2);
  CHECK(sub["artwork"]["acc"].get<double>() == Approx(50.0));
  CHECK(sub["artwork"]["acc_plus"].get<double>() == Approx(0.0));
  CHECK(sub["artwork"]["other"] == 1);
  CHECK(sub["code_reasoning"]["score"].get<double>() == Approx(200.0));
  CHECK(r.metrics["perception"].get<double>() == Approx(175.0));
  CHECK(r.metrics["cognition"].get<double>() == Approx(200.0));
  REQUIRE(r.notes.size() == 2);
  CHECK_THAT(r.notes[0], contains("Perception total leaves out"));
  CHECK_THAT(r.notes[1], contains("Cognition total leaves out"));
  CHECK_THAT(r.table, contains("existence score: 125.00"));

  // A question the ground truth does not have, and a missing answer, are errors naming the line.
  write(dir / "q_bad.jsonl", "{\"question_id\": \"existence/1.jpg\", \"text\": \"Is there a horse?\"}\n");
  in.questions = (dir / "q_bad.jsonl").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_mme(in); }),
             contains("q_bad.jsonl:1: no ground truth for \"Is there a horse?\" in existence/1.txt"));
  in.questions = (dir / "llava_mme.jsonl").string();
  write(dir / "a_short.jsonl", "{\"question_id\": \"existence/1.jpg\", \"text\": \"Yes\"}\n");
  in.answers = (dir / "a_short.jsonl").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_mme(in); }), contains("7 of 8 questions have no answer"));
  write(root / "existence" / "3.txt", "only one field\n");
  in.answers = (dir / "a.jsonl").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::score_mme(in); }), contains("3.txt:1: want \"question<TAB>answer\""));
}

// ---------------------------------------------------------------------------------------------
// MMBench upload spreadsheet

namespace {

// A bit-at-a-time CRC-32, independent of the writer's table.
uint32_t slow_crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

uint32_t le(const std::string& z, size_t at, int bytes) {
  REQUIRE(at + bytes <= z.size());
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(z[at + i]);
  return v;
}

// Reads a stored zip through its central directory, checking every entry against its local header
// and its CRC; returns name -> bytes.
std::map<std::string, std::string> unzip_stored(const std::string& z) {
  REQUIRE(z.size() >= 22);
  const size_t eocd = z.size() - 22;
  REQUIRE(le(z, eocd, 4) == 0x06054b50u);
  const uint32_t count = le(z, eocd + 10, 2), cd_size = le(z, eocd + 12, 4), cd_at = le(z, eocd + 16, 4);
  REQUIRE(cd_at + cd_size == eocd);
  std::map<std::string, std::string> out;
  size_t p = cd_at;
  for (uint32_t i = 0; i < count; ++i) {
    REQUIRE(le(z, p, 4) == 0x02014b50u);
    CHECK(le(z, p + 10, 2) == 0);  // stored
    const uint32_t crc = le(z, p + 16, 4), csize = le(z, p + 20, 4), usize = le(z, p + 24, 4);
    const uint32_t nlen = le(z, p + 28, 2), xlen = le(z, p + 30, 2), clen = le(z, p + 32, 2), local = le(z, p + 42, 4);
    const std::string name = z.substr(p + 46, nlen);
    CHECK(csize == usize);
    REQUIRE(le(z, local, 4) == 0x04034b50u);
    CHECK(le(z, local + 14, 4) == crc);
    CHECK(le(z, local + 26, 2) == nlen);
    CHECK(z.substr(local + 30, nlen) == name);
    const size_t data_at = local + 30 + nlen + le(z, local + 28, 2);
    const std::string data = z.substr(data_at, usize);
    CHECK(slow_crc32(data) == crc);
    out[name] = data;
    p += 46 + nlen + xlen + clen;
  }
  CHECK(p == eocd);
  return out;
}

}  // namespace

TEST_CASE("zip and xlsx pieces: CRC-32, column names, escaping", "[eval]") {
  CHECK(vrwkv::eval::crc32("123456789") == 0xCBF43926u);
  CHECK(vrwkv::eval::crc32("") == 0u);
  CHECK(vrwkv::eval::xlsx_column_name(0) == "A");
  CHECK(vrwkv::eval::xlsx_column_name(25) == "Z");
  CHECK(vrwkv::eval::xlsx_column_name(26) == "AA");
  CHECK(vrwkv::eval::xlsx_column_name(701) == "ZZ");
  CHECK(vrwkv::eval::xlsx_column_name(702) == "AAA");
  const auto files = unzip_stored(vrwkv::eval::zip_stored({{"a.txt", "hello"}, {"dir/b.bin", std::string("\0\xff", 2)}}));
  REQUIRE(files.size() == 2);
  CHECK(files.at("a.txt") == "hello");
  CHECK(files.at("dir/b.bin") == std::string("\0\xff", 2));
  using vrwkv::eval::XlsxCell;
  const std::string xml = vrwkv::eval::xlsx_sheet_xml(
      {{XlsxCell::of_text("a<b & \"c\"\x01_x0041_"), XlsxCell::empty(), XlsxCell::of_number(2.5)},
       {XlsxCell::of_number(7), XlsxCell::of_text("\xff")}});
  CHECK_THAT(xml, contains("<c r=\"A1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">a&lt;b &amp; &quot;c&quot;"
                           "_x0001__x005F_x0041_</t></is></c><c r=\"C1\"><v>2.5</v></c></row>"));
  CHECK_THAT(xml, contains("<row r=\"2\"><c r=\"A2\"><v>7</v></c><c r=\"B2\" t=\"inlineStr\"><is><t "
                           "xml:space=\"preserve\">\xEF\xBF\xBD</t>"));
}

TEST_CASE("MMBench upload: the spreadsheet and the local accuracy", "[eval]") {
  const auto dir = vrwkv::test::scratch_dir("eval_mmbench_submit");
  const std::string img = b64("img");
  write(dir / "mmbench_dev.tsv",
        "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
        "1\tWhich?\tnan\tcat\tdog\tnan\tnan\tB\tobj\t" + img + "\ts\tl2\tnan\tdev\n" +
        "2\t\"a < b & \"\"c\"\"\"\thint\tx\ty\tz\tnan\tC\tobj\t" + img + "\ts\tl2\t\tdev\n" +
        "3\tWhy?\t\t1\t2\t\t\tA\tobj\t" + img + "\ts\tl2\t\tdev\n");
  write(dir / "a.jsonl",
        "{\"question_id\": 1, \"text\": \"B\"}\n"
        "{\"question_id\": 2, \"text\": \"A\"}\n"
        "{\"question_id\": 99, \"text\": \"A\"}\n");
  vrwkv::eval::ScoreInputs in;
  in.answers = (dir / "a.jsonl").string();
  in.questions = (dir / "mmbench_dev.tsv").string();
  in.submission = (dir / "upload.xlsx").string();
  const auto r = vrwkv::eval::submit_mmbench(in);
  CHECK(r.metrics["rows"] == 3);
  CHECK(r.metrics["predictions"] == 2);
  CHECK(r.metrics["without_prediction"] == 1);
  CHECK(r.metrics["local_total"] == 3);
  CHECK(r.metrics["local_correct"] == 1);
  CHECK(r.metrics["local_failed"] == 1);
  CHECK(r.metrics["local_accuracy"].get<double>() == Approx(100.0 / 3));
  CHECK(r.notes.size() == 3);  // a row without prediction, an unknown index, circular evaluation

  const auto files = unzip_stored(slurp(dir / "upload.xlsx"));
  for (const char* part : {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                           "xl/styles.xml", "xl/worksheets/sheet1.xml"})
    CHECK(files.count(part) == 1);
  const std::string& sheet = files.at("xl/worksheets/sheet1.xml");
  auto text_cell = [](const std::string& ref, const std::string& v) {
    return "<c r=\"" + ref + "\" t=\"inlineStr\"><is><t xml:space=\"preserve\">" + v + "</t></is></c>";
  };
  // hint, category, source, image, comment, l2-category dropped; prediction seventh
  CHECK_THAT(sheet, contains("<row r=\"1\">" + text_cell("A1", "index") + text_cell("B1", "question") +
                             text_cell("C1", "A") + text_cell("D1", "B") + text_cell("E1", "C") + text_cell("F1", "D") +
                             text_cell("G1", "prediction") + text_cell("H1", "answer") + text_cell("I1", "split") +
                             "</row>"));
  CHECK_THAT(sheet, contains("<row r=\"2\"><c r=\"A2\"><v>1</v></c>" + text_cell("B2", "Which?") +
                             text_cell("C2", "cat") + text_cell("D2", "dog") + text_cell("G2", "B") +
                             text_cell("H2", "B") + text_cell("I2", "dev") + "</row>"));
  CHECK_THAT(sheet, contains(text_cell("B3", "a &lt; b &amp; &quot;c&quot;")));
  // row 3: no prediction cell; options "1" and "2" in a column that also holds text stay text
  CHECK_THAT(sheet, contains("<row r=\"4\"><c r=\"A4\"><v>3</v></c>" + text_cell("B4", "Why?") + text_cell("C4", "1") +
                             text_cell("D4", "2") + text_cell("H4", "A") + text_cell("I4", "dev") + "</row>"));
  CHECK(sheet.find("image") == std::string::npos);
  CHECK(files.at("xl/workbook.xml").find("<sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/>") != std::string::npos);

  in.submission = (dir / "no_such_dir" / "x.xlsx").string();
  CHECK_THAT(error_of([&] { vrwkv::eval::submit_mmbench(in); }), contains("x.xlsx: cannot write the spreadsheet"));
}
