// `visualrwkv demo`: the synthetic shapes data set (deterministic, valid LLaVA that the loader and
// the renderer accept, decodable images, held-out images apart from the training ones, questions
// that do not give answers away), the loss plot, and the whole command in its --quick form.
#include <opencv2/imgcodecs.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "catch_compat.h"
#include "demo_data.h"
#include "eval/score.h"
#include "llava_dataset.h"
#include "loss_plot.h"
#include "run_command.h"
#include "test_paths.h"
#include "text/conversation.h"
#include "text/tokenizer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One id per byte: enough to render any text, without needing a trained model.
class ByteTokenizer : public text::Tokenizer {
 public:
  std::vector<int64_t> encode(std::string_view s) const override {
    std::vector<int64_t> ids;
    for (unsigned char c : s) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string s;
    for (auto id : ids) s += char(id);
    return s;
  }
  int64_t vocab_size() const override { return 256; }
};

data::DemoDataOptions small_options() {
  data::DemoDataOptions o;
  o.train_images = 40;
  o.eval_images = 8;
  o.image_size = 48;
  o.seed = 7;
  return o;
}

}  // namespace

TEST_CASE("demo data is deterministic for a seed", "[demo]") {
  const auto a = data::generate_demo_dataset((test::scratch_dir("demo_a") / "data").string(), small_options());
  const auto b = data::generate_demo_dataset((test::scratch_dir("demo_b") / "data").string(), small_options());
  for (const auto& [fa, fb] : {std::pair{a.stage1_file, b.stage1_file}, {a.stage2_file, b.stage2_file},
                               {a.eval_questions, b.eval_questions}, {a.eval_answers, b.eval_answers},
                               {a.text_file, b.text_file}})
    CHECK(read_all(fa) == read_all(fb));
  for (const auto& entry : fs::directory_iterator(a.image_folder)) {
    const auto other = fs::path(b.image_folder) / entry.path().filename();
    REQUIRE(fs::exists(other));
    CHECK(read_all(entry.path().string()) == read_all(other.string()));
  }
  auto other_seed = small_options();
  other_seed.seed = 8;
  const auto c = data::generate_demo_dataset((test::scratch_dir("demo_c") / "data").string(), other_seed);
  CHECK(read_all(a.stage2_file) != read_all(c.stage2_file));
}

TEST_CASE("demo data is LLaVA that the loader and the renderer accept", "[demo]") {
  const auto d = data::generate_demo_dataset((test::scratch_dir("demo_llava") / "data").string(), small_options());
  const ByteTokenizer tokenizer;
  std::set<std::string> train_images;
  int text_only = 0;
  for (const auto& [file, style] : {std::pair{d.stage1_file, text::PromptStyle::kImageFirst},
                                    {d.stage2_file, text::PromptStyle::kSandwich}}) {
    const data::LlavaDataset dataset(file);
    REQUIRE(dataset.size() == size_t(file == d.stage1_file ? d.stage1_samples : d.stage2_samples));
    for (size_t i = 0; i < dataset.size(); ++i) {
      const auto conversation = dataset.conversation(i);
      INFO(dataset.sample_id(i));
      REQUIRE_NOTHROW(text::render_conversation(conversation, style, tokenizer));
      const auto rendered = text::render_conversation(conversation, style, tokenizer);
      CHECK(std::count(rendered.labels.begin(), rendered.labels.end(), text::kIgnoreIndex) <
            int64_t(rendered.labels.size()));  // something is predicted
      if (!conversation.has_image()) {
        ++text_only;
        continue;
      }
      train_images.insert(conversation.image);
      const cv::Mat img = cv::imread((fs::path(d.image_folder) / conversation.image).string(), cv::IMREAD_COLOR);
      REQUIRE(!img.empty());
      CHECK((img.cols == 48 && img.rows == 48));
    }
  }
  CHECK(train_images.size() == 40);
  CHECK(d.stage2_samples == 40 + text_only);

  const auto questions = data::read_demo_eval(d);
  REQUIRE(int64_t(questions.size()) == d.eval_questions_count);
  std::set<std::string> categories;
  for (const auto& q : questions) {
    INFO(q.question_id);
    CHECK(train_images.count(q.image) == 0);  // held-out images are never trained on
    CHECK(!cv::imread((fs::path(d.image_folder) / q.image).string(), cv::IMREAD_COLOR).empty());
    CHECK(data::demo_chance().count(q.category) == 1);
    CHECK(!q.answer.empty());
    categories.insert(q.category);
  }
  // One question of every type about every held-out image.
  CHECK(int64_t(questions.size()) == 8 * int64_t(data::demo_question_types().size()));
  CHECK(categories == std::set<std::string>(data::demo_question_types().begin(), data::demo_question_types().end()));
  // The eval file is LLaVA's: JSON Lines with question_id, image and text.
  std::ifstream in(d.eval_questions);
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto first = nlohmann::json::parse(line);
  CHECK((first.contains("question_id") && first.contains("image") && first.contains("text")));
}

// Which questions a conversation holds must not depend on its scene: sandwich prompts show every
// question before the image, so a type asked only about some scenes would give their answers away.
TEST_CASE("demo questions are chosen without looking at the scene", "[demo]") {
  data::DemoDataOptions o = small_options();
  o.train_images = 1500;
  o.image_size = 16;
  const auto d = data::generate_demo_dataset((test::scratch_dir("demo_leak") / "data").string(), o);
  const auto stage2 = nlohmann::json::parse(read_all(d.stage2_file));
  // Position answers (the occupied cells) by the count they give.
  std::map<int, int> position_answers_by_count;
  for (const auto& sample : stage2) {
    if (!sample.contains("image")) continue;
    const auto& turns = sample.at("conversations");
    for (size_t i = 0; i + 1 < turns.size(); i += 2) {
      const std::string question = turns[i].at("value"), answer = turns[i + 1].at("value");
      if (question.find("Where") != std::string::npos || question.find("corners") != std::string::npos) {
        const int count = 1 + int(std::count(answer.begin(), answer.end(), ',')) + (answer.find(" and ") != std::string::npos);
        ++position_answers_by_count[count];
      }
    }
  }
  // Position is asked about scenes of every count, with roughly the counts' own frequencies.
  REQUIRE(position_answers_by_count.size() == 3);
  int total = 0;
  for (const auto& [count, n] : position_answers_by_count) total += n;
  for (const auto& [count, n] : position_answers_by_count) {
    INFO("count " << count);
    CHECK(double(n) / total == Approx(1.0 / 3).margin(0.06));
  }
}

TEST_CASE("demo answers are compared after normalisation", "[demo]") {
  CHECK(vrwkv::eval::normalise_demo_answer(" Top Left.\n\nUser: x") == "top left");
  CHECK(vrwkv::eval::normalise_demo_answer("RED!") == "red");
  CHECK(vrwkv::eval::normalise_demo_answer("  two ") == "two");
}

TEST_CASE("loss plot writes a PNG of the requested size", "[demo]") {
  const auto dir = test::scratch_dir("demo_plot");
  const auto metrics = (dir / "metrics.jsonl").string();
  {
    std::ofstream out(metrics);
    for (int step = 10; step <= 100; step += 10)
      out << nlohmann::json{{"step", step}, {"loss", 5.0 / step}, {"lr", 1e-3}}.dump() << "\n";
  }
  const auto points = data::read_loss_curve(metrics);
  REQUIRE(points.size() == 10);
  CHECK(points.front().step == 10);
  CHECK(points.back().loss == Approx(0.05));
  const auto png = (dir / "loss.png").string();
  data::plot_loss_curve(points, "test", png, 320, 200);
  const cv::Mat img = cv::imread(png, cv::IMREAD_COLOR);
  REQUIRE(!img.empty());
  CHECK((img.cols == 320 && img.rows == 200));
  CHECK_THROWS_AS(data::plot_loss_curve({}, "empty", png), Error);
}

// The whole pipeline at smoke-test size (accuracy is not asserted: --quick trains for seconds; the
// accuracy targets are make demo's, reported in the README).
TEST_CASE("visualrwkv demo --quick writes the report, the plots and an export", "[demo]") {
  const auto out = test::scratch_dir("demo_quick");
  const std::string command = std::string(VRWKV_BINARY) + " demo --quick --configs " + test::source_dir() +
                              "/configs/demo --out " + out.string() + " > " + (out / "stdout.txt").string() + " 2>&1";
  REQUIRE(test::run_command(command) == 0);
  const std::string printed = read_all((out / "stdout.txt").string());
  INFO(printed);
  for (const auto& type : data::demo_question_types()) CHECK(printed.find("\n" + type + " ") != std::string::npos);
  const auto summary = nlohmann::json::parse(read_all((out / "summary.json").string()));
  for (const auto& type : data::demo_question_types()) {
    const double accuracy = summary.at("accuracy").at(type);
    CHECK((accuracy >= 0 && accuracy <= 1));
    CHECK(summary.at("chance").at(type) == Approx(data::demo_chance().at(type)));
  }
  const int64_t questions = summary.at("questions");
  CHECK(questions == 30 * int64_t(data::demo_question_types().size()));
  CHECK(summary.at("tokens_per_s").at("stage2").get<double>() > 0);
  CHECK(summary.at("wall_time_s").get<double>() > 0);
  // One answer line per question, a PNG per stage, the exported model.
  std::ifstream answers(out / "answers.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(answers, line);) lines += nlohmann::json::parse(line).at("text").is_string();
  CHECK(lines == questions);
  // The answers were scored by `visualrwkv eval --benchmark demo`; the summary reports its figures.
  const auto report = nlohmann::json::parse(read_all((out / "eval_report.json").string()));
  CHECK(report.at("metrics").at("overall").at("count") == questions);
  CHECK(report.at("metrics").at("overall").at("accuracy") == summary.at("accuracy").at("overall"));
  for (const char* plot : {"loss_stage1.png", "loss_stage2.png"}) CHECK(!cv::imread((out / plot).string()).empty());
  CHECK(fs::exists(out / "export" / "demo.safetensors"));
}

// The same pipeline for VisualRWKV-7 (configs/demo-v7): trained, exported and answered as v7.
TEST_CASE("visualrwkv demo --family v7 --quick trains, exports and answers with VisualRWKV-7", "[demo]") {
  const auto out = test::scratch_dir("demo_quick_v7");
  const std::string command = std::string(VRWKV_BINARY) + " demo --family v7 --quick --configs " + test::source_dir() +
                              "/configs/demo-v7 --out " + out.string() + " > " + (out / "stdout.txt").string() + " 2>&1";
  REQUIRE(test::run_command(command) == 0);
  const std::string printed = read_all((out / "stdout.txt").string());
  INFO(printed);
  CHECK(printed.find("(VisualRWKV-7, K 64)") != std::string::npos);  // eval answered with the v7 decoder
  const auto summary = nlohmann::json::parse(read_all((out / "summary.json").string()));
  CHECK(summary.at("questions") == 30 * int64_t(data::demo_question_types().size()));
  CHECK(fs::exists(out / "export" / "demo_rwkv.pth"));
  CHECK(fs::exists(out / "export" / "demo_visual.pth"));
}
