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
#include "eval/questions.h"
#include "eval/score.h"
#include "eval/tsv.h"
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

[[maybe_unused]] std::string slurp(const fs::path& p) {
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
