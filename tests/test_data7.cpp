// v7's data path and config (SPEC-v7 sections 5, 7): "image" as one path or a list, samples rendered
// by render_conversation_v7 with every image's pixels for the three towers, bad samples skipped and
// counted through the worker pool, text-only batches, and the `model.family` keys with the errors a
// config mixing the two families gets. No v7 fixture of the original's exists yet: ids are checked
// against render_conversation_v7 (itself checked against the spec by hand in [conversation]) and
// pixels against the synthetic pictures they must be.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "batch_loader.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "llava_dataset.h"
#include "sample_builder7.h"
#include "test_paths.h"
#include "text/tokenizer.h"
#include "tower_image_source7.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

std::string vocab() { return test::shared_dir() + "/data/rwkv_vocab_v20230424.txt"; }

// The tiny towers' sizes (tests/tiny_models7.h's grid: DINOv2 6, SigLIP 9, SAM 12 pixels).
nlohmann::json tiny_v7_model() {
  return {{"family", "v7"},
          {"n_layer", 2},
          {"n_embd", 32},
          {"head_size", 8},
          {"vocab_size", 65536},
          {"tokens_per_image", 4},
          {"towers",
           {{"dino",
             {{"width", 8},
              {"depth", 3},
              {"heads", 2},
              {"mlp_width", 12},
              {"patch", 2},
              {"image_size", 6},
              {"register_tokens", 2}}},
            {"siglip", {{"width", 6}, {"depth", 3}, {"heads", 3}, {"mlp_width", 10}, {"patch", 3}, {"image_size", 9}}},
            {"sam",
             {{"width", 8},
              {"depth", 3},
              {"heads", 2},
              {"mlp_width", 12},
              {"patch", 2},
              {"image_size", 12},
              {"window", 4},
              {"global_attn_every", 2},
              {"neck_channels", 4}}}}}};
}

nlohmann::json tiny_v7_config(const std::string& data_file) {
  return {
      {"model", tiny_v7_model()},
      {"tokenizer", {{"path", vocab()}}},
      {"data", {{"file", data_file}, {"image_folder", "pictures"}, {"ctx_len", 40}, {"image", {{"synthetic", true}}}}},
      {"train", {{"device", "cpu"}}}};
}

nlohmann::json turn(const std::string& from, const std::string& value) { return {{"from", from}, {"value", value}}; }

void write_lines(const fs::path& path, const std::vector<nlohmann::json>& samples) {
  std::ofstream out(path);
  for (const auto& s : samples) out << s.dump() << "\n";
}

// Two images, text only, an <image> too few, a missing file, an answer past ctx_len, one image.
std::vector<nlohmann::json> mixed_samples() {
  return {
      {{"id", "two"},
       {"image", {"a.jpg", "b.jpg"}},
       {"conversations", {turn("human", "<image>\nWhat differs from <image>?"), turn("gpt", "The colour.")}}},
      {{"sample_id", "text"}, {"conversations", {turn("human", "Say hi."), turn("gpt", "Hi.")}}},
      {{"id", "count"},
       {"image", {"a.jpg", "b.jpg"}},
       {"conversations", {turn("human", "<image>\nOne picture?"), turn("gpt", "Yes.")}}},
      {{"id", "missing"},
       {"image", "gone.jpg"},
       {"conversations", {turn("human", "<image>\nWhat?"), turn("gpt", "No.")}}},
      {{"id", "long"}, {"conversations", {turn("human", std::string(400, 'x')), turn("gpt", "Too late.")}}},
      {{"id", "one"}, {"image", "c.jpg"}, {"conversations", {turn("human", "Look: <image>"), turn("gpt", "A bird.")}}},
  };
}

// Synthetic pictures, except "gone.jpg", which is missing as a real file would be.
data::TowerImageLoader test_loader(const data::TowerTransforms7& t) {
  return [t](const std::string& path) {
    if (fs::path(path).filename() == "gone.jpg")
      throw text::SampleError("missing_image", "image file not found: " + path);
    return data::synthetic_tower_pixels7(path, t);
  };
}

}  // namespace

TEST_CASE("a sample's image is one path or a list of paths; v6 refuses several", "[data]") {
  const auto dir = test::scratch_dir("data7_images");
  write_lines(dir / "d.jsonl",
              {{{"id", "a"}, {"image", {"x.jpg", "y.jpg"}}, {"conversations", nlohmann::json::array()}},
               {{"sample_id", 9}, {"image", "z.jpg"}, {"conversations", nlohmann::json::array()}},
               {{"id", "b"}, {"image", {"x.jpg", 3}}, {"conversations", nlohmann::json::array()}}});
  const data::LlavaDataset ds((dir / "d.jsonl").string());
  const auto two = ds.conversation(0);
  CHECK(two.images == std::vector<std::string>{"x.jpg", "y.jpg"});
  CHECK(two.image.empty());  // v6's one image: none of two
  const auto one = ds.conversation(1);
  CHECK(one.id == "9");  // v7's sample_id when there is no id
  CHECK(one.image == "z.jpg");
  CHECK(one.images == std::vector<std::string>{"z.jpg"});
  CHECK_THROWS_WITH(ds.conversation(2), test::contains("\"image\" must be a path or a list of paths"));

  auto config = run_config_from_json({{"tokenizer", {{"path", vocab()}}}, {"data", {{"file", "d.jsonl"}}}}, "v6.json");
  const auto tokenizer = text::make_tokenizer("world", vocab());
  const data::SampleBuilder v6(ds, *tokenizer, config.data, config.model.image_tokens(), [](const std::string&) {
    return torch::zeros({3, 336, 336});
  });
  try {
    v6.build(0);
    FAIL("a two-image sample reached v6");
  } catch (const text::SampleError& e) {
    CHECK(e.reason() == "bad_fields");
    CHECK_THAT(std::string(e.what()), test::contains("2 images; v6 trains on one image per sample"));
  }
}

TEST_CASE("v7 samples: render_conversation_v7's ids, every image for the three towers, bad ones skipped", "[data]") {
  const auto dir = test::scratch_dir("data7_samples");
  write_lines(dir / "d.jsonl", mixed_samples());
  const auto config = run_config_from_json(tiny_v7_config((dir / "d.jsonl").string()), "v7.json");
  const data::LlavaDataset ds(config.data.file);
  const auto tokenizer = text::make_tokenizer("world", vocab());
  const auto transforms = data::tower_transforms7(config.model7.towers);
  CHECK(transforms.dino.size == 6);
  CHECK(transforms.siglip.size == 9);
  CHECK(transforms.sam.size == 12);
  CHECK(transforms.siglip.mean == std::array<float, 3>{0.5f, 0.5f, 0.5f});
  const text::V7Layout layout{4, 40};
  const data::SampleBuilder7 builder(ds, *tokenizer, config.data, layout, test_loader(transforms));

  const auto two = builder.build(0);
  const auto expected = text::render_conversation_v7(ds.conversation(0), 2, layout, *tokenizer);
  CHECK(two.input_ids == expected.input_ids);
  CHECK(two.labels == expected.labels);
  CHECK(two.input_ids.size() == 40);
  CHECK(std::count(two.input_ids.begin(), two.input_ids.end(), text::kV7ImageTokenId) == 8);
  REQUIRE(two.images.size() == 2);
  const auto a = data::synthetic_tower_pixels7("pictures/a.jpg", transforms);
  const auto b = data::synthetic_tower_pixels7("pictures/b.jpg", transforms);
  CHECK(torch::equal(two.images[0].sam, a.sam));  // in the order of the paths
  CHECK(torch::equal(two.images[1].dino, b.dino));
  CHECK(two.images[0].siglip.sizes() == torch::IntArrayRef({1, 3, 9, 9}));
  CHECK_FALSE(torch::equal(a.dino, b.dino));
  CHECK(builder.build(1).images.empty());

  std::map<std::string, std::string> reasons;
  for (size_t i = 2; i < 5; ++i) {
    try {
      builder.build(i);
    } catch (const text::SampleError& e) {
      reasons[ds.sample_id(i)] = e.reason();
    }
  }
  CHECK(reasons == std::map<std::string, std::string>{
                       {"count", "image_count"}, {"missing", "missing_image"}, {"long", "no_answer_after_truncation"}});

  // Through the worker pool: micro batches of 3 in the global order, bad samples left out and named.
  data::SkipStats skips(1.0);
  data::BatchLoader loader(data::v7_batches(builder), data::GlobalOrder(ds.size(), 3), {3, 1, 0, 1}, 0, {2, 2}, skips);
  data::GlobalOrder order(ds.size(), 3);
  int64_t rows = 0, images = 0, skipped = 0;
  for (int64_t k = 0; k < 4; ++k) {
    const auto batch = loader.next();
    const auto indices = order.micro_batch({3, 1, 0, 1}, 0, k);
    std::vector<data::Sample7> good;
    for (auto i : indices) {
      try {
        good.push_back(builder.build(i));
      } catch (const text::SampleError&) {
      }
    }
    const auto want = data::collate7(std::move(good));
    CHECK(torch::equal(batch.input_ids, want.input_ids));
    CHECK(torch::equal(batch.labels, want.labels));
    CHECK(batch.ids == want.ids);
    CHECK(batch.towers.dino.defined() == want.towers.dino.defined());
    if (want.towers.dino.defined()) CHECK(torch::equal(batch.towers.sam, want.towers.sam));
    CHECK(batch.ids.size() + batch.skipped.size() == 3);
    rows += batch.input_ids.size(0);
    images += batch.towers.dino.defined() ? batch.towers.dino.size(0) : 0;
    skipped += batch.skipped.size();
  }
  CHECK(rows + skipped == 12);  // two passes over six samples
  CHECK(skipped == 6);          // three bad samples, twice
  CHECK(images == 6);           // "two" and "one", twice
  CHECK(skips.to_json().at("by_reason").at("image_count") == 2);

  // A text-only batch has rows and no pixels (the original's collate fails on one).
  const auto text_only = data::collate7({builder.build(1)});
  CHECK(text_only.input_ids.sizes() == torch::IntArrayRef({1, 40}));
  CHECK_FALSE(text_only.towers.dino.defined());
}

TEST_CASE("model.family v7 reads the RWKV-7 sizes, the towers and K; keys of the other family are refused", "[data]") {
  const auto config = run_config_from_json(tiny_v7_config("d.jsonl"), "v7.json");
  CHECK(config.family == ModelFamily::kV7);
  const auto& m = config.model7;
  CHECK(m.rwkv.n_layer == 2);
  CHECK(m.rwkv.n_embd == 32);
  CHECK(m.rwkv.d_decay == 32);  // the spec's formula at C 32: max(32, ...)
  CHECK(m.tokens_per_image == 4);
  CHECK(m.projector == Projector7::kGatedMlp);
  CHECK(m.towers.dino.register_tokens == 2);
  CHECK(m.towers.dino.class_token);
  CHECK(m.towers.dino.layer_scale);
  CHECK_FALSE(m.towers.siglip.class_token);
  CHECK(m.towers.sam.global_blocks == std::vector<int64_t>{1});  // every 2nd of 3 blocks
  CHECK(m.towers.embed_dim() == 30);
  CHECK(config.train.freeze_rwkv_layers == 2);  // stage 1 freezes every RWKV-7 block

  // The defaults are the original's full-size towers and K.
  auto full = tiny_v7_config("d.jsonl");
  full["model"] = {{"family", "v7"}, {"n_layer", 12}, {"n_embd", 768}};
  const auto f = run_config_from_json(full, "v7.json").model7;
  CHECK(f.tokens_per_image == 1024);
  CHECK(f.towers.embed_dim() == 3200);
  CHECK(f.towers.sam.global_blocks == std::vector<int64_t>{2, 5, 8, 11});
  CHECK(f.towers.dino.width == 1024);
  CHECK(f.towers.siglip.depth == 27);
  CHECK(f.rwkv.d_gate == 128);

  auto error = [](nlohmann::json j) {
    try {
      run_config_from_json(j, "cfg.json");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto v7 = tiny_v7_config("d.jsonl");
  v7["model"]["scan_mode"] = "uni";
  CHECK_THAT(error(v7), test::contains("cfg.json: model.scan_mode is a v6 key, but model.family is v7"));
  v7 = tiny_v7_config("d.jsonl");
  v7["data"]["prompt_style"] = "sandwich";
  CHECK_THAT(error(v7), test::contains("data.prompt_style must be image_first for model.family v7"));
  v7 = tiny_v7_config("d.jsonl");
  v7["data"]["image"]["size"] = 448;
  CHECK_THAT(error(v7), test::contains("data.image.size is a v6 key"));
  v7 = tiny_v7_config("d.jsonl");
  v7["model"]["tokens_per_image"] = 8;
  CHECK_THAT(error(v7), test::contains("num_token_per_image 8 must be a square"));
  v7 = tiny_v7_config("d.jsonl");
  v7["model"]["towers"]["sam"]["image_size"] = 16;
  CHECK_THAT(error(v7), test::contains("sam's grid after space-to-depth is 4x4 but dino's is 3x3"));
  v7 = tiny_v7_config("d.jsonl");
  v7["model"]["family"] = "v8";
  CHECK_THAT(error(v7), test::contains("model.family"));
  nlohmann::json v6 = {{"model", {{"towers", {{"dino", {{"width", 8}}}}}}}, {"tokenizer", {{"path", vocab()}}}};
  CHECK_THAT(error(v6), test::contains("model.towers is a v7 key, but model.family is v6"));
  v6 = {{"model", {{"wkv_kernel", "chunked"}}}, {"tokenizer", {{"path", vocab()}}}};
  CHECK_THAT(error(v6), test::contains("model.wkv_kernel is a v7 key, but model.family is v6"));
  CHECK(m.rwkv.wkv_kernel == vrwkv::Wkv7Kernel::kRecurrent);  // the original's kernel unless asked
  v7 = tiny_v7_config("d.jsonl");
  v7["model"]["wkv_kernel"] = "chunked";
  CHECK(run_config_from_json(v7, "v7.json").model7.rwkv.wkv_kernel == vrwkv::Wkv7Kernel::kChunked);
  v7["model"]["wkv_kernel"] = "fused";
  CHECK_THAT(error(v7), test::contains("model.wkv_kernel"));

  CHECK_THROWS_WITH(require_family(config, ModelFamily::kV6, "train"),
                    test::contains("v7.json: model.family is v7, but `train` runs v6 models only so far"));
  CHECK_NOTHROW(require_family(config, ModelFamily::kV7, "train"));
}
