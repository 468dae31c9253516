// The trainer end to end on the CPU, through the `visualrwkv` binary: a dataset drawn here, stage 1,
// stage 2 from the stage-1 checkpoint (loss falling in both), exact resume, a kill during a
// checkpoint write, export read back by PyTorch, and data parallel over Gloo (2 ranks with micro
// batch b against 1 rank with 2b, with and without ZeRO-1).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "catch_compat.h"
#include "io/tensor_file.h"
#include "model/visual_rwkv.h"
#include "train/checkpoint.h"
#include "train/model_setup.h"
#include "tensor_compare.h"
#include "run_command.h"
#include "test_paths.h"
#include "tiny_model.h"
#include "text/conversation.h"
#include "text/tokenizer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

const char* kColours[] = {"red", "green", "blue", "yellow"};
const cv::Scalar kBgr[] = {{0, 0, 255}, {0, 200, 0}, {255, 0, 0}, {0, 230, 230}};
const char* kShapes[] = {"circle", "square"};

// Draws `n` images of one coloured shape and writes the stage-1 (captions) and stage-2 (questions)
// data sets next to them.
fs::path make_dataset(int n) {
  const auto dir = test::scratch_dir("train_data");
  fs::create_directories(dir / "images");
  std::mt19937 rng(3);
  nlohmann::json captions = nlohmann::json::array(), questions = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    const int c = i % 4, s = (i / 4) % 2;
    cv::Mat img(64, 64, CV_8UC3, cv::Scalar(40 + rng() % 30, 40 + rng() % 30, 40 + rng() % 30));
    const cv::Point centre(20 + rng() % 24, 20 + rng() % 24);
    if (s == 0) cv::circle(img, centre, 14, kBgr[c], cv::FILLED);
    else cv::rectangle(img, centre - cv::Point(12, 12), centre + cv::Point(12, 12), kBgr[c], cv::FILLED);
    const std::string name = "img" + std::to_string(i) + ".png";
    cv::imwrite((dir / "images" / name).string(), img);
    const std::string colour = kColours[c], shape = kShapes[s];
    captions.push_back({{"id", "c" + std::to_string(i)}, {"image", name},
                        {"conversations", {{{"from", "human"}, {"value", "<image>\nDescribe the picture."}},
                                           {{"from", "gpt"}, {"value", "A " + colour + " " + shape + "."}}}}});
    questions.push_back({{"id", "q" + std::to_string(i)}, {"image", name},
                         {"conversations", {{{"from", "human"}, {"value", "<image>\nWhat colour is the shape?"}},
                                            {{"from", "gpt"}, {"value", colour}},
                                            {{"from", "human"}, {"value", "Which shape is it?"}},
                                            {{"from", "gpt"}, {"value", shape}}}}});
  }
  std::ofstream(dir / "captions.json") << captions.dump(1);
  std::ofstream(dir / "questions.json") << questions.dump(1);
  return dir;
}

std::string train_command(const fs::path& data, const std::string& stage, const fs::path& out,
                          const std::string& extra) {
  const std::string config = test::source_dir() + "/configs/tiny/" + stage + ".json";
  const std::string file = stage == "stage1" ? "captions.json" : "questions.json";
  return std::string(VRWKV_BINARY) + " train " + config + " --set data.file=" + (data / file).string() +
         " --set data.image_folder=" + (data / "images").string() + " --set checkpoint.output_dir=" + out.string() +
         " --set tokenizer.path=" + test::shared_dir() + "/data/rwkv_vocab_v20230424.txt" + " " + extra;
}

std::vector<double> logged_losses(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) losses.push_back(nlohmann::json::parse(line).at("loss"));
  return losses;
}

io::NamedTensors final_weights(const fs::path& out) {
  const auto summary = nlohmann::json::parse(std::ifstream(out / "summary.json"));
  return train::load_checkpoint_weights(summary.at("checkpoint").get<std::string>());
}

void require_identical(const io::NamedTensors& a, const io::NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    CHECK(torch::equal(a[i].second, b[i].second));
  }
}

// The largest ||a - b|| / ||b|| over the tensors (the fixtures' measure). Element-wise maxima are
// not meaningful after AdamW: where a gradient is near zero, rounding flips the sign of its step.
double max_relative_difference(const io::NamedTensors& a, const io::NamedTensors& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i].second.norm().item<double>() == 0) continue;
    worst = std::max(worst, test::relative_error(a[i].second, b[i].second));
  }
  return worst;
}

}  // namespace

TEST_CASE("the test data gives every sample one placeholder position and one length", "[train]") {
  // The data-parallel equivalence below needs batches whose assembly does not depend on the split.
  const auto data = make_dataset(16);
  const auto tok = text::make_tokenizer("world", test::shared_dir() + "/data/rwkv_vocab_v20230424.txt");
  std::set<size_t> lengths;
  for (const auto& s : nlohmann::json::parse(std::ifstream(data / "captions.json"))) {
    text::Conversation c{s["id"], s["image"], {}};
    for (const auto& t : s["conversations"]) c.turns.push_back({t["from"], t["value"]});
    lengths.insert(text::render_conversation(c, text::PromptStyle::kImageFirst, *tok).input_ids.size());
  }
  CHECK(lengths.size() == 1);
}

TEST_CASE("stage 1 then stage 2 from its checkpoint: the loss falls in both, export loads in PyTorch", "[train]") {
  const auto data = make_dataset(32);
  const auto root = test::scratch_dir("train_stages");
  const auto s1 = root / "stage1", s2 = root / "stage2";
  REQUIRE(test::run_command(train_command(data, "stage1", s1, "--set train.steps=24 --set log.every_steps=1") +
              " > " + (root / "s1.log").string() + " 2>&1") == 0);
  auto l1 = logged_losses(s1);
  REQUIRE(l1.size() == 24);
  const double first1 = (l1[0] + l1[1] + l1[2]) / 3, last1 = (l1[21] + l1[22] + l1[23]) / 3;
  INFO("stage 1 loss " << first1 << " -> " << last1);
  CHECK(last1 < first1 * 0.9);
  const auto init_free = final_weights(s1);
  CHECK(fs::exists(s1 / "train.log"));

  REQUIRE(test::run_command(train_command(data, "stage2", s2,
                            "--set train.steps=16 --set log.every_steps=1 --set init.checkpoint=" + s1.string()) +
              " > " + (root / "s2.log").string() + " 2>&1") == 0);
  auto l2 = logged_losses(s2);
  REQUIRE(l2.size() == 16);
  const double first2 = (l2[0] + l2[1] + l2[2]) / 3, last2 = (l2[13] + l2[14] + l2[15]) / 3;
  INFO("stage 2 loss " << first2 << " -> " << last2);
  CHECK(last2 < first2 * 0.9);
  const auto stage2 = final_weights(s2);
  // emb stays frozen in stage 2 (and equals stage 1's), blocks move.
  CHECK(torch::equal(io::find_tensor(stage2, "rwkv.emb.weight"), io::find_tensor(init_free, "rwkv.emb.weight")));
  CHECK_FALSE(torch::equal(io::find_tensor(stage2, "rwkv.blocks.1.att.key.weight"),
                           io::find_tensor(init_free, "rwkv.blocks.1.att.key.weight")));

  // Export, then PyTorch reads both .pth files with the expected names, shapes and values.
  const auto exported = root / "export";
  REQUIRE(test::run_command(std::string(VRWKV_BINARY) + " export " + s2.string() + " " + exported.string() +
              " --dtype fp32 --name tiny > " + (root / "export.log").string() + " 2>&1") == 0);
  for (const char* f : {"tiny_rwkv.pth", "tiny_visual.pth", "tiny.safetensors", "tiny.json"})
    CHECK(fs::exists(exported / f));
  const std::string python = test::python_with_torch();
  REQUIRE_FALSE(python.empty());
  // Stage 2 refers to the frozen weights stage 1 stored (emb, the tower): the complete weights,
  // written out for the script, must match the export.
  const std::string checkpoint = nlohmann::json::parse(std::ifstream(s2 / "summary.json")).at("checkpoint");
  CHECK(io::load_tensors(checkpoint + "/model.safetensors").size() < stage2.size());
  const auto complete = (root / "complete.safetensors").string();
  io::save_tensors(complete, stage2);
  REQUIRE(test::run_command(python + " " + test::source_dir() + "/tests/python/check_export.py " + exported.string() + " tiny " +
              complete) == 0);
}

TEST_CASE("resume is exact: N steps straight equal k steps, stop, resume", "[train]") {
  const auto data = make_dataset(24);
  const auto root = test::scratch_dir("train_resume");
  const std::string common = "--set train.steps=8 --set checkpoint.every_steps=3";
  REQUIRE(test::run_command(train_command(data, "stage2", root / "straight", common) + " > " + (root / "a.log").string() +
              " 2>&1") == 0);
  // Preempted after 5 steps (exit code 3: stopped early), then resumed to the end.
  REQUIRE(test::run_command(train_command(data, "stage2", root / "resumed", common + " --stop-after 5") + " > " +
              (root / "b.log").string() + " 2>&1") == 3);
  REQUIRE(test::run_command(train_command(data, "stage2", root / "resumed", common + " --resume") + " >> " +
              (root / "b.log").string() + " 2>&1") == 0);
  require_identical(final_weights(root / "straight"), final_weights(root / "resumed"));
  // The same batches: the logged losses agree step for step.
  const auto a = logged_losses(root / "straight"), b = logged_losses(root / "resumed");
  CHECK(a == b);
  // Checkpoints at steps 3, 6 and 8; the tiny config keeps the last 2.
  std::set<std::string> kept;
  for (const auto& e : fs::directory_iterator(root / "straight" / "checkpoints")) kept.insert(e.path().filename());
  CHECK(kept == std::set<std::string>{"step_00000006", "step_00000008"});
  // A resume whose config changes the run is refused unless forced.
  CHECK(test::run_command(train_command(data, "stage2", root / "resumed", common + " --set optim.lr_init=0.5 --resume") + " > " +
            (root / "c.log").string() + " 2>&1") != 0);
  std::ifstream log(root / "c.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK_THAT(text, test::contains("optim.lr_init"));
  CHECK_THAT(text, test::contains("--force"));
}

TEST_CASE("a kill during a checkpoint write leaves the last complete checkpoint, and the run resumes", "[train]") {
  const auto data = make_dataset(16);
  const auto root = test::scratch_dir("train_kill");
  const auto out = root / "run";
  const std::string common = "--set train.steps=6 --set checkpoint.every_steps=2 --set checkpoint.keep_last=5";
  CHECK(test::run_command("VRWKV_TEST_KILL_AT=model_written:4 " + train_command(data, "stage2", out, common) + " > " +
            (root / "a.log").string() + " 2>&1") == 128 + SIGKILL);
  // step 2 is complete; step 4 exists only as an unfinished .tmp folder
  CHECK(fs::exists(out / "checkpoints" / "step_00000002" / "trainer.json"));
  CHECK(fs::exists(out / "checkpoints" / "step_00000004.tmp"));
  CHECK_FALSE(fs::exists(out / "checkpoints" / "step_00000004"));
  REQUIRE(test::run_command(train_command(data, "stage2", out, common + " --resume") + " > " + (root / "b.log").string() +
              " 2>&1") == 0);
  CHECK_FALSE(fs::exists(out / "checkpoints" / "step_00000004.tmp"));
  REQUIRE(test::run_command(train_command(data, "stage2", root / "straight", common) + " > " + (root / "c.log").string() +
              " 2>&1") == 0);
  require_identical(final_weights(root / "straight"), final_weights(out));
}

TEST_CASE("2 Gloo ranks with micro batch b (and 2 accumulated micro batches) reach the weights of 1 rank with 2b, "
          "with and without ZeRO-1",
          "[train]") {
  const auto data = make_dataset(24);
  const auto root = test::scratch_dir("train_ddp");
  // AdamW's first steps move every weight by about lr x sign(gradient); with the default eps (1e-8)
  // float32 rounding flips the sign of near-zero gradients and the weights differ by 2 lr there,
  // which this comparison would count. A larger eps keeps the update smooth in the gradient, so the
  // weights compare the gradients (measured: 1.6e-6 here, against 1.0e-5 with eps 1e-8).
  const std::string common = "--set train.steps=4 --set data.num_workers=1 --set optim.eps=1e-6";
  REQUIRE(test::run_command(train_command(data, "stage2", root / "single", common + " --set train.micro_batch_size=4") + " > " +
              (root / "single.log").string() + " 2>&1") == 0);
  const auto single = final_weights(root / "single");
  // Gradient accumulation: 2 micro batches of 2 are one batch of 4.
  REQUIRE(test::run_command(train_command(data, "stage2", root / "accumulated",
                            common + " --set train.micro_batch_size=2 --set train.grad_accumulation=2") +
              " > " + (root / "accumulated.log").string() + " 2>&1") == 0);
  CHECK(max_relative_difference(final_weights(root / "accumulated"), single) < 1e-5);
  for (int zero : {0, 1}) {
    INFO("zero_stage " << zero);
    const auto out = root / ("ddp_zero" + std::to_string(zero));
    const std::string cmd = train_command(data, "stage2", out,
                                          common + " --set train.micro_batch_size=2 --set train.dist_timeout_s=60"
                                                   " --set train.zero_stage=" + std::to_string(zero));
    REQUIRE(test::run_two_ranks(cmd, root.string(), 29600 + zero + (getpid() % 200) * 2) == "0 0");
    const auto ddp = final_weights(out);
    const double diff = max_relative_difference(ddp, single);
    INFO("largest relative difference " << diff);
    CHECK(diff < 1e-5);
  }
}

TEST_CASE("bf16 training keeps float32 masters and optimizer state; frozen tensors get none", "[train]") {
  const auto data = make_dataset(16);
  const auto root = test::scratch_dir("train_bf16");
  REQUIRE(test::run_command(train_command(data, "stage2", root / "run",
                            "--set train.steps=6 --set train.precision=bf16 --set log.every_steps=1") +
              " > " + (root / "log").string() + " 2>&1") == 0);
  const auto losses = logged_losses(root / "run");
  REQUIRE(losses.size() == 6);
  CHECK(losses.back() < losses.front());
  const std::string checkpoint = nlohmann::json::parse(std::ifstream(root / "run" / "summary.json")).at("checkpoint");
  const auto weights = io::load_tensors(checkpoint + "/model.safetensors");
  CHECK(io::find_tensor(weights, "rwkv.head.weight").scalar_type() == torch::kBFloat16);
  const auto optimizer = io::load_tensors(checkpoint + "/optimizer.rank0.safetensors");
  const auto master = io::find_tensor(optimizer, "rwkv.head.weight.master");
  REQUIRE(master.defined());
  CHECK(master.scalar_type() == torch::kFloat32);
  CHECK(io::find_tensor(optimizer, "rwkv.head.weight.exp_avg_sq").scalar_type() == torch::kFloat32);
  // The bf16 weights are the rounded masters.
  CHECK(torch::equal(master.to(torch::kBFloat16), io::find_tensor(weights, "rwkv.head.weight")));
  // Stage 2 freezes emb and the vision tower: no optimizer state for them.
  for (const auto& [name, t] : optimizer) {
    INFO(name);
    CHECK(name.rfind("rwkv.emb.", 0) != 0);
    CHECK(name.rfind("vit.", 0) != 0);
  }
}

TEST_CASE("SIGTERM (preemption) saves a checkpoint and exits cleanly; the run resumes from it", "[train]") {
  const auto data = make_dataset(16);
  const auto root = test::scratch_dir("train_sigterm");
  const auto out = root / "run";
  const std::string cmd = train_command(data, "stage2", out,
                                        "--set train.steps=1000 --set checkpoint.every_steps=1000 --set log.every_steps=1");
  // Start in the background, wait for the first logged step, then send SIGTERM.
  const std::string script = "bash -c '" + cmd + " > " + (root / "log").string() + " 2>&1 & p=$!; " +
                             "for i in $(seq 600); do [ -s " + (out / "metrics.jsonl").string() +
                             " ] && break; sleep 0.1; done; kill -TERM $p; wait $p'";
  CHECK(test::run_command(script) == 3);  // stopped early, cleanly
  const auto summary = nlohmann::json::parse(std::ifstream(out / "summary.json"));
  CHECK(summary.at("stopped_early").get<bool>());
  const int64_t step = summary.at("final_step");
  CHECK(step >= 1);
  CHECK(fs::exists(out / "checkpoints" / train::checkpoint_name(step) / "trainer.json"));
  REQUIRE(test::run_command(train_command(data, "stage2", out, "--set train.steps=" + std::to_string(step + 2) +
                                                      " --set checkpoint.every_steps=1000 --resume --force") +
              " >> " + (root / "log").string() + " 2>&1") == 0);
  CHECK(nlohmann::json::parse(std::ifstream(out / "summary.json")).at("final_step").get<int64_t>() == step + 2);
}

TEST_CASE("initial weights from a plain RWKV .pth and a Hugging Face CLIP folder", "[train]") {
  const auto c = test::tiny_model_config();
  torch::manual_seed(1);
  VisualRWKV source(c);
  const auto dir = test::scratch_dir("train_init");
  // A plain RWKV checkpoint (no prefix) and a CLIPModel file with text parts to ignore.
  io::NamedTensors rwkv, clip;
  for (const auto& item : source->named_parameters()) {
    const auto& key = item.key();
    if (key.rfind("rwkv.", 0) == 0) rwkv.emplace_back(key.substr(5), item.value().detach().to(torch::kBFloat16));
    if (key.rfind("vit.", 0) == 0) clip.emplace_back("vision_model." + key.substr(4), item.value().detach());
  }
  clip.emplace_back("text_model.embeddings.token_embedding.weight", torch::zeros({10, 8}));
  clip.emplace_back("vision_model.embeddings.position_ids", torch::arange(5).view({1, 5}));
  fs::create_directories(dir / "clip");
  io::save_tensors((dir / "rwkv.pth").string(), rwkv);
  io::save_tensors((dir / "clip" / "model.safetensors").string(), clip);
  torch::manual_seed(2);
  VisualRWKV target(c);
  train::load_initial_weights(target, {(dir / "rwkv.pth").string(), (dir / "clip").string(), ""});
  const auto src = source->named_parameters();
  for (const auto& item : target->named_parameters()) {
    INFO(item.key());
    if (item.key().rfind("proj.", 0) == 0) continue;  // neither file holds the projector
    const auto expected = item.key().rfind("rwkv.", 0) == 0 ? src[item.key()].to(torch::kBFloat16).to(torch::kFloat32)
                                                            : src[item.key()];
    CHECK(torch::equal(item.value(), expected));
  }
  // A file that lacks a key of its component is an error naming the key.
  rwkv.erase(rwkv.begin() + 3);
  io::save_tensors((dir / "broken.pth").string(), rwkv);
  CHECK_THROWS_WITH(train::load_initial_weights(target, {(dir / "broken.pth").string(), "", ""}),
                    test::contains("missing key"));
}
