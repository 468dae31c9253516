// VisualRWKV-7 trained by the same trainer as v6 (model.family v7, configs/tiny-v7): one and two
// images per sample on synthetic pictures (any build), the loss falls, stage 1 trains the projector
// alone, a stopped run resumes to the same weights as one that never stopped, checkpoints hold the
// original's key names, `generate` answers with them and `export` splits them into the original's two files.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "catch_compat.h"
#include "config/run_config.h"
#include "io/tensor_file.h"
#include "llava_batch_source.h"
#include "run_command.h"
#include "test_paths.h"
#include "train/checkpoint_layout.h"
#include "train/checkpoint_reader.h"
#include "train/export.h"
#include "train/train_model.h"
#include "train/vision_tower_files7.h"
#include "train/trainer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;
using json = nlohmann::json;

const char* kColours[] = {"red", "green", "blue", "yellow"};

// n samples, every third with two pictures: "<image>\n<image>\n" in front (the v7 layout).
fs::path write_data7(const std::string& name, int n) {
  const auto dir = test::scratch_dir(name);
  json samples = json::array();
  for (int i = 0; i < n; ++i) {
    const bool two = i % 3 == 0;
    json images = json::array({"pictures/" + std::to_string(i) + ".jpg"});
    if (two) images.push_back("pictures/" + std::to_string(i) + "b.jpg");
    samples.push_back({{"id", "s" + std::to_string(i)},
                       {"image", images},
                       {"conversations",
                        {{{"from", "human"},
                          {"value", std::string(two ? "<image>\n<image>\n" : "<image>\n") + "Name colour " +
                                        std::to_string(i % 4) + "."}},
                         {{"from", "gpt"}, {"value", std::string("It is ") + kColours[i % 4] + "."}}}}});
  }
  std::ofstream(dir / "data.json") << samples.dump(1);
  return dir;
}

RunConfig tiny7(const std::string& stage, const fs::path& data, const fs::path& out,
                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> sets = {"data.file=" + (data / "data.json").string(),
                                   "data.image_folder=" + (data / "images").string(),
                                   "data.image.synthetic=true",
                                   "checkpoint.output_dir=" + out.string(),
                                   "tokenizer.path=" + test::shared_dir() + "/data/rwkv_vocab_v20230424.txt",
                                   "train.steps=16",
                                   "log.every_steps=1",
                                   "data.num_workers=1"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_run_config(test::source_dir() + "/configs/tiny-v7/" + stage + ".json", sets);
}

std::vector<double> logged_losses(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::vector<double> losses;
  for (std::string line; std::getline(in, line);) losses.push_back(json::parse(line).at("loss"));
  return losses;
}

std::map<std::string, torch::Tensor> weights_of(const std::string& checkpoint) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : train::load_checkpoint_weights(checkpoint)) out[name] = t;
  return out;
}

}  // namespace

TEST_CASE("v7 trains with the v6 trainer: the loss falls, checkpoints hold the original's names", "[train_core]") {
  const auto data = write_data7("train7_stage2", 24);
  const auto out = data / "run";
  const auto config = tiny7("stage2", data, out);
  REQUIRE(config.family == ModelFamily::kV7);
  const auto summary = train::run_training(config, {}, data::make_llava_batch_source);
  CHECK(summary.at("final_step") == 16);
  CHECK(summary.at("skipped").at("skipped") == 0);
  const auto l = logged_losses(out);
  REQUIRE(l.size() == 16);
  const double first = (l[0] + l[1] + l[2]) / 3, last = (l[13] + l[14] + l[15]) / 3;
  INFO("loss " << first << " -> " << last);
  CHECK(last < first * 0.8);

  const auto checkpoint = train::find_latest_checkpoint(out.string());
  const auto w = weights_of(checkpoint);
  for (const char* key : {"rwkv.emb.weight", "rwkv.blocks.1.att.r_k", "rwkv.head.weight",
                          "vit.dino_featurizer.reg_token", "vit.siglip_featurizer.blocks.1.attn.qkv.weight",
                          "vit.sam_featurizer.neck.3.bias", "proj.gate.weight", "proj.ln_v.bias"}) {
    INFO(key);
    CHECK(w.count(key) == 1);
  }

  SECTION("generate answers with the checkpoint: the v7 prompt, the picture for the three towers") {
    const auto log = (data / "generate.log").string();
    const std::string cmd = std::string(VRWKV_BINARY) + " generate --checkpoint " + out.string() +
                            " --prompt 'Name colour 0.' --image pictures/0.jpg --max-tokens 4 > " + log + " 2>&1";
    CHECK(test::run_command(cmd) == 0);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    CHECK_THAT(text, test::contains("(VisualRWKV-7, K 4)"));
  }

  SECTION("eval answers a question file with v7's prompt, one line per question, text-only ones included") {
    const auto qdir = data / "eval";
    fs::create_directories(qdir);
    {
      std::ofstream q(qdir / "questions.jsonl");
      for (int i = 0; i < 5; ++i) {
        json line = {{"question_id", i}, {"text", "Name colour " + std::to_string(i % 4) + "."}};
        if (i != 2) line["image"] = "pictures/" + std::to_string(i) + ".jpg";
        q << line.dump() << "\n";
      }
    }
    const auto answers = (qdir / "answers.jsonl").string();
    const std::string cmd = std::string(VRWKV_BINARY) + " eval --checkpoint " + out.string() + " --questions " +
                            (qdir / "questions.jsonl").string() + " --image-folder " + (qdir / "images").string() +
                            " --answers " + answers + " --max-tokens 6 > " + answers + ".log 2>&1";
    REQUIRE(test::run_command(cmd) == 0);
    std::ifstream in(answers);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].at("prompt") == "User: <image>\nName colour 0.\n\nAssistant:");
    CHECK(lines[2].at("prompt") == "User: Name colour 2.\n\nAssistant:");
    for (int i = 0; i < 5; ++i) CHECK(lines[i].at("question_id") == i);
  }

  SECTION("eval reads MMBench's images from the question file for v7") {
    const auto qdir = data / "mmbench";
    fs::create_directories(qdir);
    // The run's pictures are synthetic (tiny7), drawn from each image's name: the bytes only need to be
    // valid base64 here; test_images checks real decoding against the file's pixels.
    std::ofstream(qdir / "mmbench_dev.tsv")
        << "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
        << "7\tWhich colour?\tnan\tred\tblue\tnan\tnan\tA\tattr\taGVsbG8=\tsrc\tl2\t\tdev\n"
        << "8\tWhich shape?\tLook.\tdisc\tsquare\tbar\tnan\tB\tattr\td29ybGQ=\tsrc\tl2\t\tdev\n";
    const auto answers = (qdir / "answers.jsonl").string();
    const std::string cmd = std::string(VRWKV_BINARY) + " eval --checkpoint " + out.string() + " --questions " +
                            (qdir / "mmbench_dev.tsv").string() + " --answers " + answers + " --max-tokens 3 > " +
                            answers + ".log 2>&1";
    REQUIRE(test::run_command(cmd) == 0);
    std::ifstream in(answers);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 2);
    for (const auto& line : lines) {
      INFO(line.dump());
      CHECK(line.at("prompt").get<std::string>().rfind("User: <image>\n", 0) == 0);  // answered with its image
      CHECK_FALSE((line.contains("metadata") && line.at("metadata").contains("image_error")));
    }
  }

  SECTION("export: <name>_rwkv.pth a plain RWKV-7 file, <name>_visual.pth the towers and projector, fp16") {
    const auto dir = data / "export";
    train::export_checkpoint(checkpoint, dir.string(), "", "tiny7");  // v7's default: fp16
    std::map<std::string, torch::Tensor> rwkv, visual;
    for (auto& [k, t] : io::load_tensors((dir / "tiny7_rwkv.pth").string())) rwkv[k] = t;
    for (auto& [k, t] : io::load_tensors((dir / "tiny7_visual.pth").string())) visual[k] = t;
    REQUIRE(rwkv.count("blocks.0.att.x_r") == 1);
    CHECK(rwkv.count("rwkv.emb.weight") == 0);
    CHECK(rwkv.at("head.weight").scalar_type() == torch::kFloat16);
    CHECK(torch::equal(rwkv.at("blocks.0.ffn.key.weight"), w.at("rwkv.blocks.0.ffn.key.weight").to(torch::kFloat16)));
    CHECK(visual.count("vit.sam_featurizer.blocks.0.attn.rel_pos_h") == 1);
    CHECK(visual.count("proj.o_proj.weight") == 1);
    CHECK(rwkv.size() + visual.size() == w.size());
    // PyTorch reads both files (torch.load) with every name and value, and the x070 names inference
    // tools need (an fp32 export, so that the values compare exactly).
    train::export_checkpoint(checkpoint, dir.string(), "fp32", "tiny7_fp32");
    const auto complete = (data / "complete.safetensors").string();
    io::save_tensors(complete, train::load_checkpoint_weights(checkpoint));
    const std::string python = test::python_with_torch();
    REQUIRE_FALSE(python.empty());
    CHECK(test::run_command(python + " " + test::source_dir() + "/tests/python/check_export.py " + dir.string() +
                            " tiny7_fp32 " + complete + " v7") == 0);
  }
}

TEST_CASE("v7 stage 1 trains the projector alone; a stopped v7 run resumes to the same weights", "[train_core]") {
  const auto data = write_data7("train7_stage1", 16);
  const auto whole = data / "whole", stopped = data / "stopped";
  const auto config = tiny7("stage1", data, whole, {"train.steps=6", "checkpoint.every_steps=100"});
  train::run_training(config, {}, data::make_llava_batch_source);
  const auto trained = weights_of(train::find_latest_checkpoint(whole.string()));

  // The same seed builds the same random model: only proj.* may have moved.
  torch::manual_seed(config.seed);
  const auto fresh = train::TrainModel::from_config(config);
  int64_t moved = 0, kept = 0;
  for (const auto& item : fresh.module().named_parameters()) {
    INFO(item.key());
    const bool same = torch::equal(trained.at(item.key()), item.value());
    if (item.key().rfind("proj.", 0) == 0) {
      CHECK_FALSE(same);
      ++moved;
    } else {
      CHECK(same);
      ++kept;
    }
  }
  CHECK(moved == 4);  // gate, o_proj, ln_v.weight, ln_v.bias
  CHECK(kept > 0);

  train::TrainOptions stop;
  stop.stop_after = 3;
  auto first = train::run_training(tiny7("stage1", data, stopped, {"train.steps=6", "checkpoint.every_steps=100"}),
                                   stop, data::make_llava_batch_source);
  CHECK(first.at("stopped_early") == true);
  train::TrainOptions resume;
  resume.resume = "latest";
  train::run_training(tiny7("stage1", data, stopped, {"train.steps=6", "checkpoint.every_steps=100"}), resume,
                      data::make_llava_batch_source);
  const auto resumed = weights_of(train::find_latest_checkpoint(stopped.string()));
  REQUIRE(resumed.size() == trained.size());
  for (const auto& [name, t] : trained) {
    INFO(name);
    CHECK(torch::equal(resumed.at(name), t));
  }
  const auto a = logged_losses(whole), b = logged_losses(stopped);
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  for (size_t i = 0; i < 6; ++i) CHECK(a[i] == b[i]);
}

TEST_CASE("v7 runs measure a validation loss on held-out samples", "[train_core]") {
  const auto data = write_data7("train7_validation", 16);
  const auto out = data / "run";
  const auto summary = train::run_training(
      tiny7("stage2", data, out, {"train.steps=4", "data.val_fraction=0.25", "train.val_every_steps=2"}), {},
      data::make_llava_batch_source);
  REQUIRE(summary.contains("val_loss"));
  const double loss = summary.at("val_loss");
  CHECK(std::isfinite(loss));
  CHECK(loss > 0);
  int64_t records = 0;
  std::ifstream in(out / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) records += json::parse(line).contains("val/loss");
  CHECK(records == 2);  // steps 2 and 4
}

TEST_CASE("v7 trains the same with model.wkv_kernel chunked as with the per-step kernel", "[train_core]") {
  const auto data = write_data7("train7_chunked", 8);
  const auto per_step = data / "recurrent", chunked = data / "chunked";
  const std::vector<std::string> sets = {"train.steps=4", "checkpoint.every_steps=100"};
  train::run_training(tiny7("stage2", data, per_step, sets), {}, data::make_llava_batch_source);
  auto chunked_sets = sets;
  chunked_sets.push_back("model.wkv_kernel=chunked");
  const auto config = tiny7("stage2", data, chunked, chunked_sets);
  REQUIRE(config.model7.rwkv.wkv_kernel == Wkv7Kernel::kChunked);
  train::run_training(config, {}, data::make_llava_batch_source);
  const auto a = logged_losses(per_step), b = logged_losses(chunked);
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  // The same batches and float32 arithmetic in another order: the fixtures README's loss tolerance,
  // relative, at every step (the weights the later steps start from differ by as little).
  for (size_t i = 0; i < 4; ++i) CHECK(std::abs(a[i] - b[i]) < 1e-5 * a[i]);
}

TEST_CASE("v7 checkpoints refer to the tower files for the frozen towers instead of storing them", "[train_core]") {
  const auto data = write_data7("train7_tower_files", 8);
  const auto towers_dir = data / "vision_towers", out = data / "run";
  // The tower files in the original's layouts, from a random model of the tiny config.
  const auto config0 = tiny7("stage1", data, out);
  torch::manual_seed(5);
  auto source = train::TrainModel::from_config(config0);
  const auto vit = source.v7()->vit;
  auto write = [&](const char* file, const torch::nn::Module& tower, const std::string& prefix) {
    io::NamedTensors tensors;
    for (const auto& item : tower.named_parameters()) tensors.emplace_back(prefix + item.key(), item.value().detach());
    const auto path = towers_dir / file;
    fs::create_directories(path.parent_path());
    io::save_tensors(path.string(), tensors);
  };
  write(train::kDinoTowerFile, *vit->dino, "");
  write(train::kSiglipTowerFile, *vit->siglip, "visual.trunk.");
  write(train::kSamTowerFile, *vit->sam, "image_encoder.");

  const auto config = tiny7("stage1", data, out,
                            {"init.vision=" + towers_dir.string(), "train.steps=3", "checkpoint.every_steps=100"});
  train::run_training(config, {}, data::make_llava_batch_source);
  const auto checkpoint = train::find_latest_checkpoint(out.string());
  // Stored: no tower tensor (the tiny towers' position grids need no resampling). Referenced: all of them.
  const auto stored = io::load_tensors(train::stored_weights_path(checkpoint));
  int64_t stored_vit = 0;
  for (const auto& [name, t] : stored) stored_vit += name.rfind("vit.", 0) == 0;
  CHECK(stored_vit == 0);
  const auto referenced = train::read_checkpoint_weights(checkpoint).referenced;
  const auto tower_params = static_cast<int64_t>(vit->named_parameters().size());
  int64_t referenced_vit = 0;
  for (const auto& [name, src] : referenced) referenced_vit += name.rfind("vit.", 0) == 0;
  CHECK(referenced_vit == tower_params);
  CHECK(referenced.at("vit.siglip_featurizer.pos_embed").key == "visual.trunk.pos_embed");
  // Read back complete, the towers are the files' tensors; the export carries them too.
  const auto w = weights_of(checkpoint);
  for (const auto& item : vit->named_parameters()) {
    INFO(item.key());
    CHECK(torch::equal(w.at("vit." + item.key()), item.value()));
  }
  // A run stopped and resumed from such checkpoints reads the towers back from their files: it ends
  // where the straight run ended, bit for bit.
  const auto stopped = data / "stopped";
  const std::vector<std::string> sets = {"init.vision=" + towers_dir.string(), "train.steps=3",
                                         "checkpoint.every_steps=100"};
  train::TrainOptions stop;
  stop.stop_after = 2;
  train::run_training(tiny7("stage1", data, stopped, sets), stop, data::make_llava_batch_source);
  train::TrainOptions resume;
  resume.resume = "latest";
  train::run_training(tiny7("stage1", data, stopped, sets), resume, data::make_llava_batch_source);
  const auto resumed = weights_of(train::find_latest_checkpoint(stopped.string()));
  REQUIRE(resumed.size() == w.size());
  for (const auto& [name, t] : w) {
    INFO(name);
    CHECK(torch::equal(resumed.at(name), t));
  }
  const auto dir = data / "export";
  train::export_checkpoint(checkpoint, dir.string(), "fp32", "towers");
  int64_t exported_vit = 0;
  for (const auto& [name, t] : io::load_tensors((dir / "towers_visual.pth").string()))
    exported_vit += name.rfind("vit.", 0) == 0;
  CHECK(exported_vit == tower_params);
}
