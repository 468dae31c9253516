// The trainer in every build, OpenCV or not (CI's libtorch 2.x build has none, like the GPU lab):
// text-only data and synthetic pictures train, a real image file in a build without a decoder is a
// clear error, and a preempted multi-rank run exits with the same code on every rank.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "eval/score.h"
#include "eval_pipeline.h"
#include "image_source.h"
#include "llava_batch_source.h"
#include "run_command.h"
#include "test_paths.h"
#include "train/trainer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;
using json = nlohmann::json;
using vrwkv::test::contains;

const char* kColours[] = {"red", "green", "blue", "yellow"};

// n samples teaching one fact each: text-only, or about an image (never read when synthetic).
fs::path write_data(const std::string& name, int n, bool with_images) {
  const auto dir = test::scratch_dir(name);
  json samples = json::array();
  for (int i = 0; i < n; ++i) {
    const std::string colour = kColours[i % 4];
    json s = {{"id", "s" + std::to_string(i)},
              {"conversations",
               {{{"from", "human"}, {"value", std::string(with_images ? "<image>\n" : "") + "Name colour " +
                                                  std::to_string(i % 4) + "."}},
                {{"from", "gpt"}, {"value", "It is " + colour + "."}}}}};
    if (with_images) s["image"] = "pictures/" + std::to_string(i) + ".jpg";
    samples.push_back(s);
  }
  std::ofstream(dir / "data.json") << samples.dump(1);
  return dir;
}

RunConfig tiny_config(const fs::path& data, const fs::path& out, const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"data.file=" + (data / "data.json").string(),
                                   "data.image_folder=" + (data / "images").string(),
                                   "checkpoint.output_dir=" + out.string(),
                                   "tokenizer.path=" + test::shared_dir() + "/data/rwkv_vocab_v20230424.txt",
                                   "train.steps=16",
                                   "log.every_steps=1",
                                   "data.num_workers=1"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_run_config(test::source_dir() + "/configs/tiny/stage2.json", sets);
}

std::vector<double> logged_losses(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) losses.push_back(json::parse(line).at("loss"));
  return losses;
}

void check_loss_falls(const fs::path& out) {
  const auto l = logged_losses(out);
  REQUIRE(l.size() == 16);
  const double first = (l[0] + l[1] + l[2]) / 3, last = (l[13] + l[14] + l[15]) / 3;
  INFO("loss " << first << " -> " << last);
  CHECK(last < first * 0.8);
}

}  // namespace

TEST_CASE("synthetic pictures: fixed per path, normalised like photos, no file read", "[train_core]") {
  ImageConfig config;
  config.size = 28;
  config.mean = {0.5f, 0.4f, 0.3f};
  config.std = {0.25f, 0.25f, 0.25f};
  config.synthetic = true;
  const auto load = data::make_image_loader(config);
  const auto a = load("no/such/file.jpg"), b = load("no/such/file.jpg"), c = load("another.jpg");
  CHECK(a.sizes() == torch::IntArrayRef({3, 28, 28}));
  CHECK(a.scalar_type() == torch::kFloat32);
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
  // Pixel values in [0, 1] before normalisation.
  for (int64_t ch = 0; ch < 3; ++ch) {
    const auto pixels = a[ch] * config.std[ch] + config.mean[ch];
    CHECK(pixels.min().item<float>() >= -1e-6f);
    CHECK(pixels.max().item<float>() <= 1 + 1e-6f);
  }
}

TEST_CASE("a text-only run trains in any build: the loss falls", "[train_core]") {
  const auto data = write_data("core_text", 24, false);
  const auto out = data / "run";
  const auto summary = train::run_training(tiny_config(data, out, {}), {}, data::make_llava_batch_source);
  CHECK(summary.at("final_step") == 16);
  CHECK(summary.at("stopped_early") == false);
  CHECK(summary.at("skipped").at("skipped") == 0);
  check_loss_falls(out);
}

TEST_CASE("synthetic pictures train in any build; without a decoder a real file is a clear error",
          "[train_core]") {
  const auto data = write_data("core_synthetic", 24, true);
  const auto out = data / "run";
  const auto summary = train::run_training(tiny_config(data, out, {"data.image.synthetic=true"}), {},
                                           data::make_llava_batch_source);
  CHECK(summary.at("final_step") == 16);
  CHECK(summary.at("skipped").at("skipped") == 0);
  check_loss_falls(out);
#if !VRWKV_WITH_OPENCV
  // The same data read from files: no sample is silently skipped, the run stops and says why.
  fs::create_directories(data / "images" / "pictures");
  for (int i = 0; i < 24; ++i) std::ofstream(data / "images" / "pictures" / (std::to_string(i) + ".jpg")) << "x";
  REQUIRE_THROWS_WITH(train::run_training(tiny_config(data, data / "files", {}), {}, data::make_llava_batch_source),
                      contains("this build has no image decoder"));
#endif
}

#if VRWKV_WITH_GLOO
TEST_CASE("a preempted 2-rank run exits 3 on every rank", "[train_core]") {
  const auto data = write_data("core_preempt", 16, false);
  const auto root = data / "runs";
  const std::string cmd = std::string(VRWKV_BINARY) + " train " + test::source_dir() + "/configs/tiny/stage2.json" +
                          " --set data.file=" + (data / "data.json").string() + " --set checkpoint.output_dir=" +
                          (root / "out").string() + " --set tokenizer.path=" + test::shared_dir() +
                          "/data/rwkv_vocab_v20230424.txt --set train.micro_batch_size=2 --set train.dist_timeout_s=60"
                          " --stop-after 2";
  fs::create_directories(root);
  CHECK(test::run_two_ranks(cmd, root.string(), 29800 + (getpid() % 200)) == "3 3");
}
#endif

namespace {

std::vector<std::string> file_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The answer texts of an answer file, in its order.
std::vector<std::string> answer_texts(const fs::path& path) {
  std::vector<std::string> out;
  for (const auto& line : file_lines(path)) out.push_back(json::parse(line).at("text"));
  return out;
}

}  // namespace

TEST_CASE("visualrwkv eval end to end: batch sizes agree, ranks shard and merge, a rerun resumes, score runs",
          "[train_core]") {
  // A checkpoint that has learnt something: the synthetic-picture run above, trained again here.
  const auto data = write_data("core_eval", 24, true);
  const auto out = data / "run";
  train::run_training(tiny_config(data, out, {"data.image.synthetic=true"}), {}, data::make_llava_batch_source);

  // Questions as the LLaVA evaluation writes them, with their answers for the demo scorer; one
  // question is text-only, one has an image of its own folder.
  const auto qdir = data / "eval";
  fs::create_directories(qdir);
  {
    std::ofstream q(qdir / "questions.jsonl"), a(qdir / "answers_key.jsonl");
    for (int i = 0; i < 9; ++i) {
      json line = {{"question_id", i}, {"text", "Name colour " + std::to_string(i % 4) + "."}, {"category", "colour"}};
      if (i != 4) line["image"] = "pictures/" + std::to_string(i) + ".jpg";
      q << line.dump() << "\n";
      a << json{{"question_id", i}, {"answer", std::string("It is ") + kColours[i % 4] + "."}, {"category", "colour"}}.dump()
        << "\n";
    }
  }
  const std::string base = std::string(VRWKV_BINARY) + " eval --checkpoint " + out.string() + " --questions " +
                           (qdir / "questions.jsonl").string() + " --image-folder " + (qdir / "images").string() +
                           " --max-tokens 12 --set data.image.synthetic=true";
  auto run = [&](const std::string& answers, const std::string& extra, const std::string& env = "") {
    const std::string log = answers + ".log";
    return test::run_command(env + base + " --answers " + answers + " " + extra + " > " + log + " 2>&1");
  };

  const std::string one = (qdir / "b1.jsonl").string(), many = (qdir / "b8.jsonl").string();
  REQUIRE(run(one, "--batch-size 1") == 0);
  REQUIRE(run(many, "--batch-size 8 --benchmark demo --annotations " + (qdir / "answers_key.jsonl").string() +
                        " --report " + (qdir / "report.json").string()) == 0);
  const auto texts = answer_texts(one);
  REQUIRE(texts.size() == 9);
  CHECK(answer_texts(many) == texts);
  // The answer lines the original's scorers read.
  for (size_t i = 0; i < 9; ++i) {
    const auto line = json::parse(file_lines(one)[i]);
    CHECK(line.at("question_id") == int(i));
    const std::string prompt = line.at("prompt");
    CHECK(prompt.rfind("User: ", 0) == 0);
    CHECK(prompt.size() > 11);
    CHECK(prompt.substr(prompt.size() - 10) == "Assistant:");
    CHECK((prompt.find("<image>") != std::string::npos) == (i != 4));
    CHECK(line.at("metadata").at("category") == "colour");
    CHECK(line.at("avg_prob").get<double>() > 0);
  }
  // The scorer's figures agree with the answers.
  const auto report = json::parse(std::ifstream(qdir / "report.json"));
  int right = 0;
  for (size_t i = 0; i < 9; ++i)
    right += eval::normalise_demo_answer(texts[i]) == eval::normalise_demo_answer(std::string("It is ") + kColours[i % 4]);
  CHECK(report.at("metrics").at("overall").at("count") == 9);
  CHECK(report.at("metrics").at("overall").at("accuracy").get<double>() == Approx(right / 9.0));
  CHECK(report.at("answered_without_image").empty());

  // The same pipeline as a library call (what the demo does): every answer is found and kept, and
  // the report comes back as the value --report wrote; a bad request fails before loading anything.
  EvalRequest request;
  request.checkpoint = out.string();
  request.sets = {"data.image.synthetic=true"};
  request.questions = (qdir / "questions.jsonl").string();
  request.image_folder = (qdir / "images").string();
  request.answers = many;
  request.max_tokens = 12;
  request.benchmark = "demo";
  request.annotations = (qdir / "answers_key.jsonl").string();
  const auto in_process = run_eval(request);
  CHECK(in_process.merged);
  CHECK(in_process.run.already_answered == 9);
  CHECK(in_process.run.answered == 0);
  CHECK(answer_texts(many) == texts);
  auto returned = json::parse(eval_report_json(in_process).dump());
  CHECK(returned.at("rank0").at("answered") == 0);
  returned["rank0"] = report.at("rank0");  // the CLI's run answered the questions, this one found them
  CHECK(returned == report);
  request.batch_size = 0;
  request.checkpoint = (qdir / "no_such_checkpoint").string();
  CHECK_THROWS_WITH(run_eval(request), contains("--batch-size must be positive"));

  // Two ranks of a torchrun launch, one after the other: rank 1 answers its share, rank 0 its own
  // and merges. The same answers in the same order.
  const std::string sharded = (qdir / "sharded.jsonl").string();
  const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 WORLD_SIZE=2 ";
  REQUIRE(run(sharded, "--batch-size 3", env + "RANK=1 LOCAL_RANK=1 ") == 0);
  CHECK(fs::exists(sharded + ".rank1"));
  CHECK_FALSE(fs::exists(sharded));
  REQUIRE(run(sharded, "--batch-size 3", env + "RANK=0 LOCAL_RANK=0 ") == 0);
  CHECK(answer_texts(sharded) == texts);
  CHECK_FALSE(fs::exists(sharded + ".rank1"));

  // Interrupted: the merged file lost its last lines and a part file holds a torn line. The same
  // command answers only what is missing.
  {
    auto lines = file_lines(one);
    std::ofstream(one, std::ios::trunc) << lines[0] << "\n" << lines[1] << "\n";
    std::ofstream(one + ".rank0") << lines[2] << "\n" << lines[3].substr(0, 20);
  }
  REQUIRE(run(one, "--batch-size 4") == 0);
  CHECK(answer_texts(one) == texts);
  std::string log;
  for (const auto& line : file_lines(one + ".log")) log += line + "\n";
  CHECK_THAT(log, contains("9 questions, 3 answered before, 6 to answer"));

  // `score` on its own gives the report's figures; a missing answer is named.
  REQUIRE(test::run_command(std::string(VRWKV_BINARY) + " score --benchmark demo --answers " + many +
                            " --annotations " + (qdir / "answers_key.jsonl").string() + " --report " +
                            (qdir / "score.json").string() + " > /dev/null 2>&1") == 0);
  CHECK(json::parse(std::ifstream(qdir / "score.json")).at("metrics").at("overall") ==
        report.at("metrics").at("overall"));
  {
    auto lines = file_lines(many);
    std::ofstream(qdir / "short.jsonl") << lines[0] << "\n";
  }
  const std::string missing_log = (qdir / "missing.log").string();
  CHECK(test::run_command(std::string(VRWKV_BINARY) + " score --benchmark demo --answers " +
                          (qdir / "short.jsonl").string() + " --annotations " + (qdir / "answers_key.jsonl").string() +
                          " > " + missing_log + " 2>&1") == 1);
  std::string message;
  std::getline(std::ifstream(missing_log), message);
  CHECK_THAT(message, contains("8 of 9 questions have no answer; first missing ids: 1, 2, 3, 4, 5"));
}
