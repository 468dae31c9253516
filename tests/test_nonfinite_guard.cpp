// The non-finite guard (train_step.cpp): a step whose loss or gradient norm is not finite on any
// rank is skipped on every rank, weights and optimizer state untouched, counted and logged;
// train.max_bad_steps such steps in a row stop the run with an error naming them, the last
// checkpoint intact. The NaN is planted through the test seam VRWKV_TEST_NAN_AT (fault_injection.h).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "llava_batch_source.h"
#include "run_command.h"
#include "test_paths.h"
#include "text_data.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;
using json = nlohmann::json;

using test::write_text_data;

std::vector<std::string> run_sets(const fs::path& data, const fs::path& out) {
  return {"data.file=" + (data / "data.json").string(), "checkpoint.output_dir=" + out.string(),
          "tokenizer.path=" + test::shared_dir() + "/data/rwkv_vocab_v20230424.txt", "train.steps=5",
          "log.every_steps=1", "data.num_workers=1", "checkpoint.every_steps=1", "checkpoint.keep_last=10",
          "train.micro_batch_size=2"};
}

RunConfig guard_config(const fs::path& data, const fs::path& out, std::vector<std::string> extra = {}) {
  auto sets = run_sets(data, out);
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_run_config(test::source_dir() + "/configs/tiny/stage2.json", sets);
}

// Sets VRWKV_TEST_NAN_AT for one scope.
struct PlantedNan {
  explicit PlantedNan(const std::string& steps) { setenv("VRWKV_TEST_NAN_AT", steps.c_str(), 1); }
  ~PlantedNan() { unsetenv("VRWKV_TEST_NAN_AT"); }
};

std::string step_dir(const fs::path& out, int step) { return train::checkpoint_dir(out.string(), step); }

bool same_tensors(const io::NamedTensors& a, const io::NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  return true;
}

io::NamedTensors optimizer_state(const fs::path& out, int step) {
  return train::load_optimizer_state(step_dir(out, step), [](const std::string&) { return true; });
}

// The checkpoint of `before` and that of `after` (a skipped step later) hold the same weights and
// optimizer state; the next step does change them (so the comparison could fail).
void check_skipped_step_changed_nothing(const fs::path& out, int before, int after) {
  CHECK(same_tensors(train::load_checkpoint_weights(step_dir(out, before)),
                     train::load_checkpoint_weights(step_dir(out, after))));
  CHECK(same_tensors(optimizer_state(out, before), optimizer_state(out, after)));
  CHECK_FALSE(same_tensors(train::load_checkpoint_weights(step_dir(out, after)),
                           train::load_checkpoint_weights(step_dir(out, after + 1))));
}

std::vector<json> metrics(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::vector<json> records;
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  return records;
}

}  // namespace

TEST_CASE("a NaN step on one rank is skipped: weights and optimizer state equal the step before's", "[guard]") {
  const auto data = write_text_data("guard_one", 20);
  const auto out = data / "run";
  json summary;
  {
    PlantedNan nan("3");
    summary = train::run_training(guard_config(data, out), {}, data::make_llava_batch_source);
  }
  CHECK(summary.at("final_step") == 5);
  CHECK(summary.at("bad_steps") == 1);
  check_skipped_step_changed_nothing(out, 2, 3);
  const auto records = metrics(out);
  REQUIRE(records.size() == 5);
  CHECK(records[1].at("bad_steps") == 0);
  CHECK(records[2].at("bad_steps") == 1);
  CHECK(records[2].at("loss").is_null());  // NaN has no JSON form: the step's loss is absent
  CHECK(std::isfinite(records[3].at("loss").get<double>()));
  // The log names the step, its samples and the micro batch.
  std::ifstream log(out / "train.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  CHECK_THAT(text, test::contains("step 3: loss nan"));
  CHECK_THAT(text, test::contains("positions 4..5 of the global order"));
  CHECK_THAT(text, test::contains("rank 0: step 3: micro batch 0 (samples at global positions 4..5)"));
}

TEST_CASE("train.max_bad_steps non-finite steps in a row stop the run naming them; the last checkpoint stays",
          "[guard]") {
  const auto data = write_text_data("guard_stop", 20);
  const auto out = data / "run";
  {
    PlantedNan nan("2,3,4");
    REQUIRE_THROWS_WITH(train::run_training(guard_config(data, out, {"train.max_bad_steps=3"}), {},
                                            data::make_llava_batch_source),
                        test::contains("steps 2, 3, 4 in a row had a loss or gradient norm that is not finite "
                                       "(train.max_bad_steps = 3)"));
  }
  // Steps 2 and 3 (skipped) were saved with step 1's weights; nothing after the stop.
  CHECK(train::find_latest_checkpoint(out.string()) == step_dir(out, 3));
  CHECK_FALSE(fs::exists(step_dir(out, 4)));
  CHECK(same_tensors(train::load_checkpoint_weights(step_dir(out, 1)),
                     train::load_checkpoint_weights(step_dir(out, 3))));
  // Two bad steps, then a good one: the count starts again and the run ends normally.
  const auto again = data / "again";
  PlantedNan nan("2,3,5");
  const auto summary = train::run_training(guard_config(data, again, {"train.max_bad_steps=3"}), {},
                                           data::make_llava_batch_source);
  CHECK(summary.at("final_step") == 5);
  CHECK(summary.at("bad_steps") == 3);
}

#if VRWKV_WITH_GLOO
TEST_CASE("2 Gloo ranks, NaN on rank 1 only: both ranks skip the step, the weights equal the step before's",
          "[guard]") {
  const auto data = write_text_data("guard_ranks", 20);
  const auto out = data / "run";
  std::string cmd = std::string(VRWKV_BINARY) + " train " + test::source_dir() + "/configs/tiny/stage2.json";
  for (const auto& s : run_sets(data, out)) cmd += " --set " + s;
  cmd += " --set train.micro_batch_size=1 --set train.dist_timeout_s=60";
  const auto logs = data / "logs";
  fs::create_directories(logs);
  REQUIRE(test::run_two_ranks(cmd, logs.string(), 29900 + (getpid() % 90), "VRWKV_TEST_NAN_AT=3@1 ") == "0 0");
  check_skipped_step_changed_nothing(out, 2, 3);
  std::ifstream log(logs / "r1.log");
  const std::string text((std::istreambuf_iterator<char>(log)), {});
  // Rank 1's share of step 3's global batch (positions 4, 5) is position 5.
  CHECK_THAT(text, test::contains("rank 1: step 3: micro batch 0 (samples at global positions 5..5)"));
}
#endif
