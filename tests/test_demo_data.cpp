// The `visualrwkv demo` data side: the synthetic shapes data set (deterministic, valid LLaVA that the
// loader and the renderer accept, decodable images, held-out images apart from the training ones)
// and the loss plot.
#include <opencv2/imgcodecs.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "catch_compat.h"
#include "demo_data.h"
#include "llava_dataset.h"
#include "loss_plot.h"
#include "test_paths.h"
#include "text/conversation.h"
#include "text/tokenizer.h"

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
  CHECK(categories.size() >= 3);
  // The eval file is LLaVA's: JSON Lines with question_id, image and text.
  std::ifstream in(d.eval_questions);
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto first = nlohmann::json::parse(line);
  CHECK((first.contains("question_id") && first.contains("image") && first.contains("text")));
}

TEST_CASE("demo answers are compared after normalisation", "[demo]") {
  CHECK(data::normalise_answer(" Top Left.\n\nUser: x") == "top left");
  CHECK(data::normalise_answer("RED!") == "red");
  CHECK(data::normalise_answer("  two ") == "two");
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
