// The data path: JSON scanning with file:line:column errors, the dataset, the sampler (disjoint
// complete shares, resumable cursor), the loader (deterministic batches, resume, every kind of bad
// sample skipped and counted, the skip ceiling).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "batch_loader.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "image_source.h"
#include "json_scan.h"
#include "llava_dataset.h"
#include "test_paths.h"
#include "text/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

#if VRWKV_WITH_OPENCV  // the helpers of the loader tests below
nlohmann::json sample(const std::string& id, const std::string& image, const std::string& question,
                      const std::string& answer, const std::string& speaker = "gpt") {
  nlohmann::json s = {{"id", id}};
  if (!image.empty()) s["image"] = image;
  s["conversations"] = {{{"from", "human"}, {"value", question}}, {{"from", speaker}, {"value", answer}}};
  return s;
}

// A dataset with good samples and one of every kind of bad one, and its images.
struct BadDataFixture {
  fs::path dir = test::scratch_dir("data_bad");
  std::map<std::string, std::string> expected_reason;  // sample id -> skip reason
  std::string file;

  BadDataFixture() {
    const std::string photo = test::shared_dir() + "/data/images/bluejay.jpg";
    fs::copy_file(photo, dir / "good.jpg");
    std::ifstream in(photo, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    write_file(dir / "truncated.jpg", bytes.substr(0, bytes.size() / 3));
    write_file(dir / "text.jpg", "this is not an image\n");
    write_file(dir / "empty.jpg", "");
    fs::create_directories(dir / "folder.jpg");  // exists but cannot be read as a file
    nlohmann::json data = nlohmann::json::array();
    for (int i = 0; i < 12; ++i)
      data.push_back(sample("good" + std::to_string(i), i % 3 ? "good.jpg" : "", (i % 3 ? "<image>\n" : "") +
                            std::string("What is shown?"), "A bird number " + std::to_string(i) + "."));
    auto bad = [&](nlohmann::json s, const std::string& reason) {
      expected_reason[s["id"]] = reason;
      data.push_back(s);
    };
    bad(sample("missing", "nowhere.jpg", "<image>\nq", "a"), "missing_image");
    bad(sample("truncated", "truncated.jpg", "<image>\nq", "a"), "bad_image");
    bad(sample("notimage", "text.jpg", "<image>\nq", "a"), "bad_image");
    bad(sample("emptyfile", "empty.jpg", "<image>\nq", "a"), "bad_image");
    bad(sample("unreadable", "folder.jpg", "<image>\nq", "a"), "bad_image");
    bad(sample("speaker", "good.jpg", "<image>\nq", "a", "robot"), "unknown_speaker");
    bad(sample("twoimages", "good.jpg", "<image>\nq <image>", "a"), "multiple_placeholders");
    bad(nlohmann::json{{"id", "empty"}, {"image", "good.jpg"}, {"conversations", nlohmann::json::array()}},
        "empty_conversation");
    // A short answer between two long questions: neither the first nor the last 64 positions hold it.
    std::string long_q;
    for (int i = 0; i < 300; ++i) long_q += "word ";
    auto no_answer = sample("noanswer", "", long_q, "ok");
    no_answer["conversations"].push_back({{"from", "human"}, {"value", long_q}});
    bad(no_answer, "no_answer_after_truncation");
    bad(nlohmann::json{{"id", "fields"}, {"conversations", "not a list"}}, "bad_fields");
    file = (dir / "data.json").string();
    write_file(file, data.dump(1));
  }

  RunConfig config(int64_t ctx_len = 64, double max_skip = 1.0) const {
    nlohmann::json cfg = {
        {"model", {{"n_layer", 2}, {"n_embd", 64}, {"vocab_size", 65536},
                   {"vision", {{"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 1},
                               {"num_attention_heads", 2}, {"image_size", 28}, {"patch_size", 14}}}}},
        {"tokenizer", {{"path", test::shared_dir() + "/data/rwkv_vocab_v20230424.txt"}}},
        {"data", {{"file", file}, {"image_folder", dir.string()}, {"ctx_len", ctx_len},
                  {"max_skip_fraction", max_skip}, {"image", {{"size", 28}}}}}};
    return run_config_from_json(cfg, "test");
  }
};

// `count` micro batches of 3 of one rank alone, from stream position `start`.
std::vector<data::Batch> run_loader(const data::SampleBuilder& builder, size_t dataset_size, int workers,
                                    int64_t start, int64_t count, data::SkipStats& skips) {
  data::BatchLoader loader(data::v6_batches(builder, 28), data::GlobalOrder(dataset_size, 7), {3, 1, 0, 1}, start,
                           {workers, 3}, skips);
  std::vector<data::Batch> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(loader.next());
  return out;
}

#endif

}  // namespace

TEST_CASE("json scan finds elements and names file, line and column of malformed JSON", "[data]") {
  const std::string text = "[\n  {\"a\": [1, 2.5e3, \"x\\n\"]},\n  {\"b\": null}\n]\n";
  const auto ranges = data::scan_json_elements(text, false, "ok.json");
  REQUIRE(ranges.size() == 2);
  CHECK(text.substr(ranges[1].offset, ranges[1].length) == "{\"b\": null}");
  const auto lines = data::scan_json_elements("{\"a\": 1}\n\n{\"b\": 2}\n", true, "ok.jsonl");
  CHECK(lines.size() == 2);
  auto error = [](const std::string& t) { return error_of([&] { data::scan_json_elements(t, false, "bad.json"); }); };
  CHECK_THAT(error("[\n  {\"a\": 1},\n  {\"b\": tru}\n]"), test::contains("bad.json:3:9: malformed JSON"));
  CHECK_THAT(error("[\n  {\"a\": 1}\n  {\"b\": 2}\n]"), test::contains("bad.json:3:3"));
  CHECK_THAT(error("[{\"a\": \"unterminated}]"), test::contains("bad.json:1:8: malformed JSON: unterminated string"));
  CHECK_THAT(error("[{\"a\": 1}"), test::contains("unexpected end of file"));
  CHECK_THAT(error("[{\"a\": 1}] x"), test::contains("unexpected data after"));
  CHECK_THAT(error(""), test::contains("bad.json:1:1"));
}

TEST_CASE("dataset reads JSON arrays and JSON Lines, ids of any type, and rejects bad fields", "[data]") {
  const auto dir = test::scratch_dir("data_dataset");
  write_file(dir / "d.jsonl",
             "{\"id\": 17, \"image\": \"a.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nq\"},"
             " {\"from\": \"gpt\"}]}\n{\"id\": \"t\", \"conversations\": 3}\n");
  const data::LlavaDataset ds((dir / "d.jsonl").string());
  REQUIRE(ds.size() == 2);
  const auto c = ds.conversation(0);
  CHECK(c.id == "17");
  CHECK(c.image == "a.jpg");
  REQUIRE(c.turns.size() == 2);
  CHECK(c.turns[1].value.empty());  // a missing reply is empty
  CHECK_THROWS_AS(ds.conversation(1), text::SampleError);
  CHECK_THAT(error_of([&] { ds.conversation(1); }), test::contains("d.jsonl:2:1"));
  CHECK_THAT(error_of([&] { data::LlavaDataset((dir / "missing.json").string()); }), test::contains("missing.json"));
}

TEST_CASE("global order: each epoch a seeded permutation, the stream wraps into the next", "[data]") {
  for (uint64_t n : {1ull, 10ull, 11ull, 97ull}) {
    INFO("n " << n);
    const data::GlobalOrder order(n, 5);
    for (uint64_t epoch : {0ull, 1ull, 2ull}) {
      std::set<uint64_t> seen;
      for (uint64_t i = 0; i < n; ++i) seen.insert(order.at(epoch * n + i));
      CHECK(seen.size() == n);
      CHECK(*seen.rbegin() == n - 1);
    }
  }
  const data::GlobalOrder order(50, 5);
  CHECK(data::epoch_permutation(50, 5, 0) != data::epoch_permutation(50, 5, 1));
  CHECK(data::epoch_permutation(50, 6, 0) != data::epoch_permutation(50, 5, 0));
  for (uint64_t i = 0; i < 150; ++i) CHECK(order.at(i) == data::epoch_permutation(50, 5, int64_t(i / 50))[i % 50]);
}

TEST_CASE("global order: any split of the global batch into ranks x accumulation gives the same micro batches",
          "[data]") {
  // Micro batch 2, global batch 8 = 1 x 4 = 2 x 2 = 4 x 1; datasets larger and smaller than it.
  for (uint64_t n : {3ull, 8ull, 13ull}) {
    INFO("n " << n);
    const data::GlobalOrder order(n, 9);
    std::vector<std::vector<std::vector<uint64_t>>> splits;  // [split][micro batch of the run]
    for (int world : {1, 2, 4}) {
      const int64_t accum = 4 / world;
      std::vector<std::vector<uint64_t>> micro(3 * 4);
      for (int rank = 0; rank < world; ++rank) {
        const data::StepLayout layout{2, accum, rank, world};
        CHECK(layout.global_batch() == 8);
        for (int64_t k = 0; k < 3 * accum; ++k) {
          const int64_t step = k / accum, index = rank * accum + k % accum;  // the place in the global batch
          micro[step * 4 + index] = order.micro_batch(layout, 0, k);
          // Resuming at a step boundary (the cursor) continues the same stream.
          if (step >= 1) CHECK(order.micro_batch(layout, 8, k - accum) == micro[step * 4 + index]);
        }
      }
      splits.push_back(micro);
    }
    CHECK(splits[0] == splits[1]);
    CHECK(splits[0] == splits[2]);
    // The run's stream in order: micro batch j of the run holds positions 2j and 2j + 1.
    for (size_t j = 0; j < splits[0].size(); ++j)
      CHECK(splits[0][j] == std::vector<uint64_t>{order.at(2 * j), order.at(2 * j + 1)});
  }
  REQUIRE_THROWS_WITH(data::GlobalOrder(0, 1), test::contains("the dataset is empty"));
  REQUIRE_THROWS_WITH(data::GlobalOrder(5, 1).micro_batch({2, 1, 2, 2}, 0, 0), test::contains("rank 2 of world size 2"));
}

TEST_CASE("held-out split: a seeded part for validation that the training order never yields", "[data]") {
  const auto split = data::held_out_split(40, 0.2, 3);
  REQUIRE(split.validation.size() == 8);
  REQUIRE(split.train.size() == 32);
  std::set<uint64_t> all(split.train.begin(), split.train.end());
  all.insert(split.validation.begin(), split.validation.end());
  CHECK(all.size() == 40);  // disjoint, and together every sample
  CHECK(std::is_sorted(split.validation.begin(), split.validation.end()));
  CHECK(data::held_out_split(40, 0.2, 3).validation == split.validation);  // fixed by the seed
  CHECK(data::held_out_split(40, 0.2, 4).validation != split.validation);
  // Over three epochs the order over the training members visits each of them once per epoch.
  const data::GlobalOrder order(split.train, 3);
  CHECK(order.dataset_size() == 32);
  const std::set<uint64_t> held(split.validation.begin(), split.validation.end());
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < 32; ++i) seen.insert(order.at(epoch * 32 + i));
    CHECK(seen == std::set<uint64_t>(split.train.begin(), split.train.end()));
    for (auto s : seen) CHECK(held.count(s) == 0);
  }
  REQUIRE_THROWS_WITH(data::held_out_split(10, 0.01, 0), test::contains("leaves 0 for validation"));
  REQUIRE_THROWS_WITH(data::held_out_split(1, 0.5, 0), test::contains("both need at least one"));
}

// The loader tests decode real image files (good, corrupt, missing): builds with OpenCV only.
#if VRWKV_WITH_OPENCV
TEST_CASE("loader: batches are deterministic, resumable, and bad samples are skipped by reason", "[data]") {
  BadDataFixture fx;
  const auto config = fx.config();
  const data::LlavaDataset dataset(fx.file);
  const auto tokenizer = text::make_tokenizer("world", config.tokenizer.path);
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, config.model.image_tokens(),
                                    data::make_image_loader(config.data.image));
  // One epoch is 22 samples; 8 batches of 3 go a little past it.
  data::SkipStats skips_a, skips_b;
  const auto a = run_loader(builder, dataset.size(), 1, 0, 2, skips_a);
  const auto a_rest = run_loader(builder, dataset.size(), 1, 6, 5, skips_a);  // resumed after 6 samples
  const auto b = run_loader(builder, dataset.size(), 2, 0, 7, skips_b);
  std::vector<data::Batch> a_all(a);
  a_all.insert(a_all.end(), a_rest.begin(), a_rest.end());
  REQUIRE(a_all.size() == b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    INFO("batch " << i);
    CHECK(a_all[i].ids == b[i].ids);
    CHECK(torch::equal(a_all[i].input_ids, b[i].input_ids));
    CHECK(torch::equal(a_all[i].labels, b[i].labels));
    CHECK(torch::equal(a_all[i].images, b[i].images));
  }
  CHECK(skips_a.to_json() == skips_b.to_json());

  // One batch of a whole epoch: every good sample in it, every bad one skipped under its reason.
  data::SkipStats epoch_skips;
  data::BatchLoader loader(data::v6_batches(builder, 28), data::GlobalOrder(dataset.size(), 7), {22, 1, 0, 1}, 0,
                           {1, 1}, epoch_skips);
  const auto batch = loader.next();
  CHECK(batch.ids.size() == 12);
  CHECK(batch.input_ids.size(0) == 12);
  CHECK(batch.images.size(0) == 12);
  for (const auto& id : batch.ids) CHECK(id.rfind("good", 0) == 0);
  std::map<std::string, std::string> skipped;
  for (const auto& s : batch.skipped) skipped[s.id] = s.reason;
  std::map<std::string, std::string> expected = fx.expected_reason;
  CHECK(skipped == expected);
  // Text-only samples get a zero image; image samples a normalised photo.
  for (size_t i = 0; i < batch.ids.size(); ++i) {
    const bool text_only = std::stoi(batch.ids[i].substr(4)) % 3 == 0;
    CHECK((batch.images[i].abs().sum().item<float>() == 0.0f) == text_only);
  }
}

TEST_CASE("loader: a skipped fraction above the ceiling stops the job with a clear message", "[data]") {
  BadDataFixture fx;
  const auto config = fx.config(64, 0.1);
  const data::LlavaDataset dataset(fx.file);
  const auto tokenizer = text::make_tokenizer("world", config.tokenizer.path);
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, config.model.image_tokens(),
                                    data::make_image_loader(config.data.image));
  data::SkipStats skips(config.data.max_skip_fraction, /*min_seen=*/10);
  data::BatchLoader loader(data::v6_batches(builder, 28), data::GlobalOrder(dataset.size(), 7), {2, 1, 0, 1}, 0,
                           {2, 2}, skips);
  const auto message = error_of([&] {
    for (int i = 0; i < 20; ++i) loader.next();
  });
  CHECK_THAT(message, test::contains("too many bad samples"));
  CHECK_THAT(message, test::contains("max_skip_fraction"));
}

#endif  // VRWKV_WITH_OPENCV

// Every string holding a '/' in `j`, with its key path.
static void collect_paths(const nlohmann::json& j, const std::string& at, std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object())
    for (const auto& [k, v] : j.items()) collect_paths(v, at.empty() ? k : at + "." + k, out);
  else if (j.is_string() && j.get<std::string>().find('/') != std::string::npos)
    out.emplace_back(at, j.get<std::string>());
}

TEST_CASE("no shipped config names a path outside the checkout", "[data]") {
  // A clone on a cluster has nothing beside the checkout: tokenizer, weights, data and outputs go
  // inside it (models/, data/, runs/ as the README says) unless the user points elsewhere with --set.
  const auto root = std::filesystem::weakly_canonical(test::source_dir());
  int configs = 0, paths = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root / "configs")) {
    if (e.path().extension() != ".json") continue;
    ++configs;
    std::vector<std::pair<std::string, std::string>> found;
    collect_paths(nlohmann::json::parse(std::ifstream(e.path())), "", found);
    for (const auto& [key, value] : found) {
      ++paths;
      const auto resolved = (e.path().parent_path() / value).lexically_normal();  // as load_run_config does
      const auto inside = resolved.lexically_relative(root);
      INFO(e.path().string() << ": " << key << " = " << value << " -> " << resolved.string());
      CHECK(std::filesystem::path(value).is_relative());
      CHECK((!inside.empty() && *inside.begin() != ".."));
    }
  }
  CHECK(configs >= 8);
  CHECK(paths >= 8);  // at least every stage config's tokenizer
}

TEST_CASE("config: unknown keys name the nearest valid one; types and ranges are checked", "[data]") {
  auto error = [](nlohmann::json j) { return error_of([&] { run_config_from_json(j, "c.json"); }); };
  const nlohmann::json tok = {{"path", "v.txt"}};
  CHECK_THAT(error({{"tokenizer", tok}, {"data", {{"promt_style", "sandwich"}}}}),
             test::contains("c.json: unknown key 'data.promt_style' (did you mean 'prompt_style'?)"));
  CHECK_THAT(error({{"tokenizer", tok}, {"data", {{"prompt_style", "middle_out"}}}}),
             test::contains("c.json: data.prompt_style: 'middle_out' is not one of"));
  CHECK_THAT(error({{"tokenizer", tok}, {"data", {{"ctx_len", "long"}}}}),
             test::contains("c.json: data.ctx_len: must be an integer"));
  CHECK_THAT(error({{"tokenizer", tok}, {"data", {{"max_skip_fraction", 2}}}}), test::contains("must be <= 1"));
  CHECK_THAT(error({{"data", {}}}), test::contains("missing required key 'tokenizer.path'"));
  nlohmann::json j = {{"tokenizer", tok}};
  config::apply_override(j, "data.ctx_len=77");
  config::apply_override(j, "model.scan_mode=multi");
  const auto c = run_config_from_json(j, "c.json");
  CHECK(c.data.ctx_len == 77);
  CHECK(c.scan_mode == ScanMode::kMulti);
  CHECK(c.data.prompt_style == text::PromptStyle::kImageFirst);
}

namespace {
// The key paths of the schema's leaves that fill no member of RunConfig.
void unbound_leaves(const config::Field& field, const std::string& path, std::vector<std::string>& out) {
  for (const auto& child : field.children) {
    const auto p = path.empty() ? child.name : path + "." + child.name;
    if (child.type == config::Type::kObject) unbound_leaves(child, p, out);
    else if (!child.store) out.push_back(p);
  }
}
}  // namespace

TEST_CASE("config: each key of the schema fills its member of RunConfig; named choices become enums", "[data]") {
  // Every key is bound where it is declared, except the model's sizes (read by model_config_from_json).
  std::vector<std::string> unbound;
  unbound_leaves(run_config_schema(), "", unbound);
  for (const auto& key : unbound) CHECK_THAT(key, test::contains("model."));
  CHECK(std::find(unbound.begin(), unbound.end(), "model.scan_mode") == unbound.end());
  CHECK(std::find(unbound.begin(), unbound.end(), "model.n_layer") != unbound.end());

  nlohmann::json j = {{"tokenizer", {{"path", "v.txt"}}}};
  const auto defaults = run_config_from_json(j, "c.json");
  CHECK(defaults.train.precision == Precision::kFp32);
  CHECK(defaults.train.device == DeviceSetting::kAuto);
  CHECK(defaults.checkpoint.frozen == FrozenWeights::kReference);
  CHECK(defaults.data.image.mean[2] == 0.40821073f);
  for (const char* set : {"train.precision=bf16", "train.device=cpu", "checkpoint.frozen=copy", "seed=7",
                          "log.every_steps=3", "optim.beta2=0.95", "init.vision=v", "data.val_fraction=0.1",
                          "data.image.std=[0.5,0.25,0.125]", "train.freeze_rwkv_layers=2", "tokenizer.kind=sentencepiece"})
    config::apply_override(j, set);
  const auto c = run_config_from_json(j, "c.json");
  CHECK(c.train.precision == Precision::kBf16);
  CHECK(c.train.device == DeviceSetting::kCpu);
  CHECK(c.checkpoint.frozen == FrozenWeights::kCopy);
  CHECK(c.seed == 7u);
  CHECK(c.log_every_steps == 3);
  CHECK(c.optim.beta2 == 0.95);
  CHECK(c.init.vision == "v");
  CHECK(c.data.val_fraction == 0.1);
  CHECK((c.data.image.std == std::array<float, 3>{0.5f, 0.25f, 0.125f}));
  CHECK(c.train.freeze_rwkv_layers == 2);
  CHECK(c.tokenizer.kind == "sentencepiece");
  // A name given on a command line is checked against the same names.
  CHECK(config::value_named(precision_names(), "bf16", "--precision") == Precision::kBf16);
  CHECK_THAT(error_of([] { config::value_named(precision_names(), "bf61", "--precision"); }),
             test::contains("--precision: 'bf61' is not one of its values (did you mean 'bf16'?)"));
  CHECK(config::name_of(device_setting_names(), DeviceSetting::kCuda) == "cuda");
  // The bindings write into a RunConfig only.
  struct Other {} other;
  CHECK_THROWS(config::store_into(run_config_schema(), c.resolved, other));
}
