#include "demo_data.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "base/error.h"

namespace vrwkv::data {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

struct Colour {
  const char* name;
  cv::Scalar bgr;
};
// Saturated colours, so that the desaturated backgrounds never pass for one of them.
const Colour kColours[] = {{"red", {30, 30, 220}}, {"green", {40, 190, 30}}, {"blue", {220, 80, 20}},
                           {"yellow", {20, 220, 235}}};
const char* kShapes[] = {"circle", "square", "triangle"};
const char* kShapesPlural[] = {"circles", "squares", "triangles"};
const char* kCells[] = {"top left", "top right", "bottom left", "bottom right"};  // the 2x2 grid
const char* kCounts[] = {"one", "two", "three"};
constexpr int kNumColours = 4, kNumShapes = 3, kNumCells = 4, kMaxCount = 3;

// Random numbers from the 64-bit Mersenne Twister only (modulo, no std distributions), so the
// data set is the same on every platform for a seed.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  int below(int n) { return static_cast<int>(engine_() % static_cast<uint64_t>(n)); }
  double unit() { return double(engine_() >> 11) / double(uint64_t(1) << 53); }
  uint64_t bits() { return engine_(); }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(below(int(i)))]);
  }
  template <size_t N>
  const char* pick(const char* const (&list)[N]) { return list[below(int(N))]; }

 private:
  std::mt19937_64 engine_;
};

struct Scene {
  int colour = 0, shape = 0, count = 1;
  std::vector<int> cells;  // grid cells holding a shape
};

Scene random_scene(Random& rng) {
  Scene s;
  s.colour = rng.below(kNumColours);
  s.shape = rng.below(kNumShapes);
  s.count = 1 + rng.below(kMaxCount);
  std::vector<int> cells{0, 1, 2, 3};
  rng.shuffle(cells);
  s.cells.assign(cells.begin(), cells.begin() + s.count);
  std::sort(s.cells.begin(), s.cells.end());
  return s;
}

// A desaturated background (grey-ish base, a linear gradient, noise) with the scene's shapes, one
// per cell, each jittered in size and place inside its cell.
cv::Mat draw_scene(const Scene& scene, int size, Random& rng) {
  const int base = 50 + rng.below(150);
  cv::Mat img(size, size, CV_8UC3,
              cv::Scalar(base + rng.below(30) - 15, base + rng.below(30) - 15, base + rng.below(30) - 15));
  cv::Mat gradient(size, size, CV_32FC1);
  const double gx = (rng.unit() - 0.5) * 60 / size, gy = (rng.unit() - 0.5) * 60 / size;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) gradient.at<float>(y, x) = float(gx * (x - size / 2) + gy * (y - size / 2));
  cv::Mat noise(size, size, CV_32FC3);
  cv::RNG cv_rng(rng.bits());
  cv_rng.fill(noise, cv::RNG::NORMAL, 0, 6);
  cv::Mat gradient3;
  cv::merge(std::vector<cv::Mat>{gradient, gradient, gradient}, gradient3);
  cv::Mat sum;
  img.convertTo(sum, CV_32FC3);
  sum += gradient3 + noise;
  sum.convertTo(img, CV_8UC3);  // saturates

  const int cell = size / 2;
  for (int c : scene.cells) {
    const int r = cell * (28 + rng.below(10)) / 100;  // half-size: 28-37% of the cell
    const int slack = cell / 2 - r - 2;  // a margin, so shapes in neighbouring cells never touch
    const cv::Point centre((c % 2) * cell + cell / 2 + rng.below(2 * std::max(slack, 0) + 1) - slack,
                           (c / 2) * cell + cell / 2 + rng.below(2 * std::max(slack, 0) + 1) - slack);
    const auto& colour = kColours[scene.colour].bgr;
    switch (scene.shape) {
      case 0: cv::circle(img, centre, r, colour, cv::FILLED, cv::LINE_AA); break;
      case 1: cv::rectangle(img, centre - cv::Point(r, r), centre + cv::Point(r, r), colour, cv::FILLED); break;
      default: {
        const std::vector<cv::Point> tri{centre + cv::Point(0, -r), centre + cv::Point(r, r), centre + cv::Point(-r, r)};
        cv::fillConvexPoly(img, tri, colour, cv::LINE_AA);
      }
    }
  }
  return img;
}

// "top left", "top left and bottom right", "top left, top right and bottom right".
std::string cell_list(const Scene& s) {
  std::string text;
  for (size_t i = 0; i < s.cells.size(); ++i)
    text += std::string(i == 0 ? "" : i + 1 == s.cells.size() ? " and " : ", ") + kCells[s.cells[i]];
  return text;
}

std::string caption(const Scene& s) {
  const std::string colour = kColours[s.colour].name;
  if (s.count == 1) return std::string("A ") + colour + " " + kShapes[s.shape] + " in the " + kCells[s.cells[0]] + ".";
  std::string text = std::string(kCounts[s.count - 1]) + " " + colour + " " + kShapesPlural[s.shape] + ": " +
                     cell_list(s) + ".";
  text[0] = char(std::toupper(static_cast<unsigned char>(text[0])));
  return text;
}

struct QA {
  std::string category, question, answer;
};

// One question of a type about a scene, phrased one of a few ways.
QA ask(const std::string& category, const Scene& s, Random& rng) {
  if (category == "colour") {
    static const char* q[] = {"What colour is the shape?", "What colour are the shapes?", "Which colour do you see?"};
    return {category, rng.pick(q), kColours[s.colour].name};
  }
  if (category == "shape") {
    static const char* q[] = {"What shape is it?", "Which shape is shown?", "What kind of shape is in the image?"};
    return {category, rng.pick(q), kShapes[s.shape]};
  }
  if (category == "count") {
    static const char* q[] = {"How many shapes are there?", "How many objects can you see?", "Count the shapes."};
    return {category, rng.pick(q), kCounts[s.count - 1]};
  }
  // Position asks for every occupied cell, so it can be asked about any scene: a question only
  // asked about single shapes would give the count away (sandwich prompts show every question of a
  // conversation before the image).
  static const char* q[] = {"Where are the shapes?", "Which corners hold a shape?", "Where are the objects?"};
  return {"position", rng.pick(q), cell_list(s)};
}

// Questions about the words themselves: they keep the language model honest on text alone.
QA text_only_question(Random& rng) {
  switch (rng.below(4)) {
    case 0: {
      const int i = rng.below(kNumColours);
      return {"text", std::string("Is ") + kColours[i].name + " a colour or a shape?", "colour"};
    }
    case 1: {
      const int i = rng.below(kNumShapes);
      return {"text", std::string("Is a ") + kShapes[i] + " a colour or a shape?", "shape"};
    }
    case 2: {
      const int i = rng.below(2);
      return {"text", std::string("What number comes after ") + kCounts[i] + "?", kCounts[i + 1]};
    }
    default: {
      static const char* sides[] = {"three", "four"};
      const int i = rng.below(2);
      return {"text", std::string("How many corners does a ") + (i == 0 ? "triangle" : "square") + " have?", sides[i]};
    }
  }
}

json turn(const char* from, const std::string& value) { return {{"from", from}, {"value", value}}; }

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  VRWKV_CHECK(out.good(), path.string(), ": cannot write");
}

void write_png(const fs::path& path, const cv::Mat& img) {
  VRWKV_CHECK(cv::imwrite(path.string(), img), path.string(), ": cannot write the image");
}

}  // namespace

const std::vector<std::string>& demo_question_types() {
  static const std::vector<std::string> types{"colour", "shape", "position", "count"};
  return types;
}

// Position answers: every set of one to kMaxCount = 3 of the four cells (14).
std::map<std::string, double> demo_chance() {
  return {{"colour", 1.0 / kNumColours}, {"shape", 1.0 / kNumShapes}, {"position", 1.0 / ((1 << kNumCells) - 2)},
          {"count", 1.0 / kMaxCount}};
}

DemoDataset generate_demo_dataset(const std::string& dir, const DemoDataOptions& options) {
  VRWKV_CHECK(options.train_images > 0 && options.eval_images > 0, dir, ": the demo data needs images");
  VRWKV_CHECK(options.image_size >= 16, dir, ": demo images must be at least 16 pixels wide");
  const fs::path root = fs::absolute(dir);
  fs::create_directories(root / "images");
  DemoDataset out;
  out.dir = root.string();
  out.image_folder = (root / "images").string();
  out.stage1_file = (root / "stage1_captions.json").string();
  out.stage2_file = (root / "stage2_questions.json").string();
  out.eval_questions = (root / "eval_questions.jsonl").string();
  out.eval_answers = (root / "eval_answers.jsonl").string();
  out.text_file = (root / "text.txt").string();

  Random rng(options.seed);
  const int size = static_cast<int>(options.image_size);
  json stage1 = json::array(), stage2 = json::array();
  std::string text;  // tokenizer corpus: the rendered speakers too, so "User:" / "Assistant:" get pieces
  static const char* describe[] = {"Describe the image.", "What is in the picture?", "Write a short caption."};

  for (int64_t i = 0; i < options.train_images; ++i) {
    const Scene scene = random_scene(rng);
    const std::string name = cat("train_", std::string(5 - std::min<size_t>(5, std::to_string(i).size()), '0'), i, ".png");
    write_png(root / "images" / name, draw_scene(scene, size, rng));
    const std::string prompt = rng.pick(describe), cap = caption(scene);
    stage1.push_back({{"id", cat("cap", i)}, {"image", name},
                      {"conversations", {turn("human", std::string("<image>\n") + prompt), turn("gpt", cap)}}});
    text += cat("User: ", prompt, "\nAssistant: ", cap, "\n");

    // 1 to 3 rounds of distinct types in random order, chosen without looking at the scene
    // (sandwich prompts repeat every question, so long conversations cost twice); single rounds as
    // at eval are the most common.
    auto types = demo_question_types();
    rng.shuffle(types);
    static const int kRounds[] = {1, 1, 1, 2, 2, 3};
    types.resize(static_cast<size_t>(kRounds[rng.below(6)]));
    json conversation = json::array();
    for (size_t r = 0; r < types.size(); ++r) {
      const QA qa = ask(types[r], scene, rng);
      conversation.push_back(turn("human", r == 0 ? "<image>\n" + qa.question : qa.question));
      conversation.push_back(turn("gpt", qa.answer));
      text += cat("User: ", qa.question, "\nAssistant: ", qa.answer, "\n");
    }
    stage2.push_back({{"id", cat("qa", i)}, {"image", name}, {"conversations", conversation}});

    if (rng.unit() < options.text_only_fraction / (1 - options.text_only_fraction)) {
      const QA qa = text_only_question(rng);
      stage2.push_back({{"id", cat("text", i)}, {"conversations", {turn("human", qa.question), turn("gpt", qa.answer)}}});
      text += cat("User: ", qa.question, "\nAssistant: ", qa.answer, "\n");
    }
  }
  // Held out: images drawn after the training ones (other pixels, other files), one question of each
  // type per image.
  std::string questions, answers;
  int64_t n_questions = 0;
  for (int64_t i = 0; i < options.eval_images; ++i) {
    const Scene scene = random_scene(rng);
    const std::string name = cat("eval_", std::string(5 - std::min<size_t>(5, std::to_string(i).size()), '0'), i, ".png");
    write_png(root / "images" / name, draw_scene(scene, size, rng));
    for (const auto& type : demo_question_types()) {
      const QA qa = ask(type, scene, rng);
      const std::string id = cat(i, "_", type);
      questions += json{{"question_id", id}, {"image", name}, {"text", qa.question}, {"category", type}}.dump() + "\n";
      answers += json{{"question_id", id}, {"answer", qa.answer}, {"category", type}}.dump() + "\n";
      ++n_questions;
    }
  }
  write_text(out.stage1_file, stage1.dump(1) + "\n");
  write_text(out.stage2_file, stage2.dump(1) + "\n");
  write_text(out.eval_questions, questions);
  write_text(out.eval_answers, answers);
  write_text(out.text_file, text);
  out.stage1_samples = static_cast<int64_t>(stage1.size());
  out.stage2_samples = static_cast<int64_t>(stage2.size());
  out.eval_questions_count = n_questions;
  return out;
}

std::vector<DemoQuestion> read_demo_eval(const DemoDataset& dataset) {
  auto read_lines = [](const std::string& path) {
    std::ifstream in(path);
    VRWKV_CHECK(in.good(), path, ": cannot open");
    std::vector<json> rows;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      try {
        rows.push_back(json::parse(line));
      } catch (const json::exception& e) {
        throw Error(cat(path, ":", number, ": not valid JSON: ", e.what()));
      }
    }
    return rows;
  };
  std::map<std::string, std::string> answer_of;
  for (const auto& a : read_lines(dataset.eval_answers)) answer_of[a.at("question_id").get<std::string>()] = a.at("answer");
  std::vector<DemoQuestion> out;
  for (const auto& q : read_lines(dataset.eval_questions)) {
    const std::string id = q.at("question_id");
    const auto it = answer_of.find(id);
    VRWKV_CHECK(it != answer_of.end(), dataset.eval_answers, ": no answer for question ", id);
    out.push_back({id, q.at("image"), q.at("text"), q.at("category"), it->second});
  }
  return out;
}

}  // namespace vrwkv::data
