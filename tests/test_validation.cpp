// Validation loss (train/validation.h): the mean of the validation samples' own losses, logged with
// the steps to metrics.jsonl; the held-out part of data.file (data.val_fraction) or data.val_file;
// the same value on 1 and 2 Gloo ranks.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "image_source.h"
#include "llava_batch_source.h"
#include "llava_dataset.h"
#include "model/loss.h"
#include "run_command.h"
#include "sample_builder.h"
#include "sampler.h"
#include "test_paths.h"
#include "text/tokenizer.h"
#include "text_data.h"
#include "train/checkpoint.h"
#include "train/trained_model.h"
#include "train/trainer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;
using json = nlohmann::json;

std::vector<std::string> run_sets(const fs::path& data, const fs::path& out) {
  return {"data.file=" + (data / "data.json").string(), "checkpoint.output_dir=" + out.string(),
          "tokenizer.path=" + test::shared_dir() + "/data/rwkv_vocab_v20230424.txt", "train.steps=4",
          "log.every_steps=1", "data.num_workers=1", "checkpoint.every_steps=2", "train.micro_batch_size=2",
          "train.val_every_steps=2"};
}

RunConfig config_with(const fs::path& data, const fs::path& out, std::vector<std::string> extra) {
  auto sets = run_sets(data, out);
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_run_config(test::source_dir() + "/configs/tiny/stage2.json", sets);
}

// metrics.jsonl's validation records: step -> the record.
std::map<int64_t, json> validation_records(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::map<int64_t, json> records;
  for (std::string line; std::getline(in, line);) {
    auto r = json::parse(line);
    if (r.contains("val/loss")) records[r.at("step").get<int64_t>()] = r;
  }
  return records;
}

// The reference: each validation sample alone through the saved model, its next_token_loss on the
// full logits, averaged.
double reference_loss(const std::string& checkpoint, const std::string& data_file, const std::vector<uint64_t>& indices) {
  auto trained = train::load_trained_model(checkpoint, {}, 0);
  const auto& config = trained.config;
  const data::LlavaDataset dataset(data_file);
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, config.model.image_tokens(),
                                    data::make_image_loader(config.data.image));
  torch::NoGradGuard no_grad;
  double total = 0;
  for (const auto index : indices) {
    const auto b = data::collate({builder.build(index)}, config.data.image.size);
    auto& model = trained.model;
    const auto e = model->embed(b.input_ids, b.labels, model->encode_images(b.images), config.data.ctx_len);
    const auto hidden = model->forward_hidden(e.embeds, config.scan_mode, e.layout.img_start, e.layout.img_end);
    total += next_token_loss(hidden.matmul(model->rwkv->head->weight.t()), e.layout.labels).item<double>();
  }
  return total / double(indices.size());
}

constexpr double kLossTolerance = 1e-5;  // float32 against the reference (shared/fixtures/README)

}  // namespace

TEST_CASE("validation on a held-out fraction: logged every N steps and at the end, equal to the samples' own losses",
          "[validation]") {
  const auto data = test::write_text_data("validation_held_out", 25);
  const auto out = data / "run";
  const auto summary = train::run_training(config_with(data, out, {"data.val_fraction=0.2"}), {},
                                           data::make_llava_batch_source);
  const auto records = validation_records(out);
  REQUIRE(records.size() == 2);
  REQUIRE(records.count(2) == 1);
  REQUIRE(records.count(4) == 1);
  CHECK(records.at(4).at("val/samples") == 5);
  CHECK(summary.at("val_loss").get<double>() == records.at(4).at("val/loss").get<double>());
  // Training changed the weights between the two validations.
  CHECK(records.at(2).at("val/loss") != records.at(4).at("val/loss"));
  // The 5 held out (seed 0) were measured with the step-4 weights.
  const auto held = data::held_out_split(25, 0.2, 0).validation;
  const double want = reference_loss(train::checkpoint_dir(out.string(), 4), (data / "data.json").string(), held);
  const double got = records.at(4).at("val/loss").get<double>();
  INFO("validation loss " << got << ", reference " << want);
  CHECK(std::abs(got - want) <= kLossTolerance * std::abs(want));
  std::ifstream log(out / "train.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK_THAT(text, test::contains("25 samples in " + (data / "data.json").string() + " (5 held out for validation)"));
  CHECK_THAT(text, test::contains("step 4: validation loss"));
  // The held-out part is what training does not see: a resume may not change it.
  auto changed = config_with(data, out, {"data.val_fraction=0.3", "train.steps=6"});
  REQUIRE_THROWS_WITH(train::run_training(changed, {"latest"}, data::make_llava_batch_source),
                      test::contains("data.val_fraction"));
  // Nor may both sources be named.
  REQUIRE_THROWS_WITH(config_with(data, out, {"data.val_fraction=0.2", "data.val_file=" + (data / "data.json").string()}),
                      test::contains("data.val_file and data.val_fraction both choose the validation set"));
}

#if VRWKV_WITH_GLOO
TEST_CASE("validation loss of data.val_file: the same on 1 and 2 Gloo ranks", "[validation]") {
  // 5 validation samples in micro batches of 2: 3 micro batches, 2 on rank 0 and 1 on rank 1. With
  // a learning rate of 0 both runs hold the seed's weights, so their validation losses must agree
  // to the bit.
  const auto data = test::write_text_data("validation_ranks", 12);
  const auto val = test::write_text_data("validation_ranks_val", 5);
  std::vector<std::string> sets = {"data.val_file=" + (val / "data.json").string(), "optim.lr_init=0",
                                   "optim.lr_final=0", "train.val_every_steps=1", "train.steps=2"};
  const auto one = data / "one";
  auto sets_one = sets;
  sets_one.push_back("train.grad_accumulation=2");
  train::run_training(config_with(data, one, sets_one), {}, data::make_llava_batch_source);

  const auto two = data / "two";
  std::string cmd = std::string(VRWKV_BINARY) + " train " + test::source_dir() + "/configs/tiny/stage2.json";
  for (const auto& s : run_sets(data, two)) cmd += " --set " + s;
  for (const auto& s : sets) cmd += " --set " + s;
  cmd += " --set train.dist_timeout_s=60";
  const auto logs = data / "logs";
  fs::create_directories(logs);
  REQUIRE(test::run_two_ranks(cmd, logs.string(), 29800 + (getpid() % 90)) == "0 0");

  const auto a = validation_records(one), b = validation_records(two);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (int64_t step : {1, 2}) {
    INFO("step " << step);
    CHECK(a.at(step).at("val/samples") == 5);
    CHECK(b.at(step).at("val/samples") == 5);
    CHECK(a.at(step).at("val/loss").get<double>() == b.at(step).at("val/loss").get<double>());
  }
  // And it is the samples' mean loss.
  std::vector<uint64_t> all{0, 1, 2, 3, 4};
  const double want = reference_loss(train::checkpoint_dir(one.string(), 2), (val / "data.json").string(), all);
  CHECK(std::abs(a.at(2).at("val/loss").get<double>() - want) <= kLossTolerance * std::abs(want));
}
#endif
