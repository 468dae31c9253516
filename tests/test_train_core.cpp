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
  const int port = 29800 + (getpid() % 200);
  const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " WORLD_SIZE=2 ";
  fs::create_directories(root);
  const std::string script = "bash -c '" + env + "RANK=0 LOCAL_RANK=0 " + cmd + " > " + (root / "r0.log").string() +
                             " 2>&1 & p0=$!; " + env + "RANK=1 LOCAL_RANK=1 " + cmd + " > " +
                             (root / "r1.log").string() + " 2>&1 & p1=$!; wait $p0; a=$?; wait $p1; b=$?; " +
                             "echo $a $b > " + (root / "codes").string() + "'";
  REQUIRE(test::run_command(script) == 0);
  std::string codes;
  std::getline(std::ifstream(root / "codes"), codes);
  CHECK(codes == "3 3");
}
#endif
