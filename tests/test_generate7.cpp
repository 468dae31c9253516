// VisualRWKV-7 answering (SPEC-v7 section 9): the original's evaluation prompt, and recurrent
// decoding whose first step is the training forward's last position (itself checked against the
// float64 reference in [visual7]) and whose later steps are the chunked continuation of the same
// state. No v7 fixture of the original's exists yet.
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

#include "catch_compat.h"
#include "infer/generate7.h"
#include "model/image_placement.h"
#include "model/visual_rwkv7.h"
#include "tensor_compare.h"
#include "test_paths.h"
#include "text/tokenizer.h"
#include "tiny_models7.h"

namespace {

using namespace vrwkv;

std::unique_ptr<text::Tokenizer> world() {
  return text::make_tokenizer("world", test::shared_dir() + "/data/rwkv_vocab_v20230424.txt");
}

// The ids as text, each run of K placeholders written "<image>".
std::string as_text(const std::vector<int64_t>& ids, int64_t K, const text::Tokenizer& tok) {
  std::string out;
  std::vector<int64_t> piece;
  for (size_t i = 0; i < ids.size();) {
    if (ids[i] != kV7ImagePlaceholderId) {
      piece.push_back(ids[i++]);
      continue;
    }
    out += tok.decode(piece) + "<image>";
    piece.clear();
    for (int64_t k = 0; k < K; ++k, ++i) REQUIRE(ids[i] == kV7ImagePlaceholderId);
  }
  return out + tok.decode(piece);
}

// A small random v7 model in float64 with K 4 and the World vocabulary (the prompt's ids).
VisualRWKV7 tiny_model(uint64_t seed) {
  VisualRwkv7Config c;
  c.rwkv = test::small_rwkv7_config();
  c.rwkv.vocab_size = 65536;
  c.towers = test::tiny_towers();
  c.tokens_per_image = 4;
  torch::manual_seed(seed);
  VisualRWKV7 model(c);
  test::randomise_uniform(*model->vit);
  test::randomize_rwkv7(*model, seed + 1, "rwkv.");
  model->to(torch::kFloat64);
  return model;
}

}  // namespace

TEST_CASE("v7's evaluation prompt: User:, K placeholders and a newline per image, the question, Assistant:",
          "[generate]") {
  const auto tok = world();
  const auto two = v7_prompt_ids("<image>What is it?", 2, 4, *tok);
  CHECK(as_text(two, 4, *tok) == "User: <image>\n<image>\nWhat is it?\n\nAssistant:");
  CHECK(std::count(two.begin(), two.end(), kV7ImagePlaceholderId) == 8);
  // "\n\n" is the stop token 261 and "Assistant:" the ids training masks (SPEC-v7 section 7).
  REQUIRE(two.size() > 4);
  CHECK(std::vector<int64_t>(two.end() - 4, two.end()) == std::vector<int64_t>{261, 5585, 41693, 59});
  const auto none = v7_prompt_ids("Hi?", 0, 4, *tok);
  CHECK(as_text(none, 4, *tok) == "User: Hi?\n\nAssistant:");
  CHECK(std::count(none.begin(), none.end(), kV7ImagePlaceholderId) == 0);
}

TEST_CASE("v7 recurrent decoding: the training forward's last logits, then the state continued", "[generate]") {
  const auto tok = world();
  auto model = tiny_model(41);
  torch::manual_seed(43);
  const TowerPixels pixels{torch::randn({1, 3, 6, 6}, torch::kFloat64), torch::randn({1, 3, 9, 9}, torch::kFloat64),
                           torch::randn({1, 3, 12, 12}, torch::kFloat64)};
  Generator7 generator(model, *tok, 0);
  GenerateOptions options;
  options.max_new_tokens = 6;
  options.ignore_stops = true;
  const auto d = generator.generate("What is it?", pixels, options);
  REQUIRE(d.ids.size() == 6);

  torch::NoGradGuard no_grad;
  const auto prompt = v7_prompt_ids("What is it?", 1, 4, *tok);
  const auto ids = torch::tensor(prompt, torch::kInt64).view({1, -1});
  const auto logits = model->forward(ids, pixels)[0];
  const auto last = logits[logits.size(0) - 1];
  CHECK(d.ids[0] == last.argmax().item<int64_t>());
  // The rest: the prompt read into a state, the chosen tokens in one chunk after it.
  std::vector<LayerState> states(model->rwkv->blocks->size());
  model->rwkv->forward_hidden(model->embed(ids, model->encode_images(pixels)), &states, true);
  const auto next = torch::tensor(std::vector<int64_t>(d.ids.begin(), d.ids.end() - 1), torch::kInt64).view({1, -1});
  const auto chunk = model->rwkv->head(model->rwkv->forward_hidden(model->rwkv->emb(next), &states, false))[0];
  for (size_t j = 1; j < d.ids.size(); ++j) CHECK(d.ids[j] == chunk[j - 1].argmax().item<int64_t>());
  // The image matters: other pixels give other first logits.
  const TowerPixels other{pixels.dino * -1, pixels.siglip, pixels.sam};
  const auto moved = model->forward(ids, other)[0];
  CHECK(test::relative_error(moved[moved.size(0) - 1], last) > 1e-3);
}

TEST_CASE("v7 batched decoding: every question's answer is its own, whatever else is in the batch", "[generate]") {
  const auto tok = world();
  auto model = tiny_model(51);
  torch::manual_seed(53);
  auto pictures = [](int64_t n) {
    return TowerPixels{torch::randn({n, 3, 6, 6}, torch::kFloat64), torch::randn({n, 3, 9, 9}, torch::kFloat64),
                       torch::randn({n, 3, 12, 12}, torch::kFloat64)};
  };
  // Prompts of three lengths (two share one), no image, one and two images; own seeds.
  std::vector<DecodeRequest> requests = {{"What is it?", {}, 1, pictures(1)},
                                         {"Hi?", {}, 2, {}},
                                         {"What is here?", {}, 3, pictures(2)},
                                         {"Why is it?", {}, 4, pictures(1)}};
  REQUIRE(v7_prompt_ids(requests[0].question, 1, 4, *tok).size() ==
          v7_prompt_ids(requests[3].question, 1, 4, *tok).size());  // read in one group
  for (const double temperature : {0.0, 1.0}) {
    INFO("temperature " << temperature);
    GenerateOptions options;
    options.max_new_tokens = 7;
    options.temperature = temperature;
    options.top_p = 0.9;
    Decoder7 decoder(model, *tok, 0);
    const auto batched = decoder.run(requests, options);
    REQUIRE(batched.size() == requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      INFO("question " << i);
      const auto alone = decoder.run({requests[i]}, options).at(0);
      CHECK(batched[i].decoded.ids == alone.decoded.ids);
      CHECK(batched[i].decoded.answer == alone.decoded.answer);
      CHECK(std::abs(batched[i].decoded.avg_logit - alone.decoded.avg_logit) < 1e-9);
      CHECK(batched[i].prompt == v7_prompt_text(requests[i].question, image_count(requests[i].towers)));
      CHECK(batched[i].prompt_positions ==
            int64_t(v7_prompt_ids(requests[i].question, image_count(requests[i].towers), 4, *tok).size()));
    }
  }
  // With the stop rules on, too, the batch gives each question its own answer.
  GenerateOptions stops;
  stops.max_new_tokens = 12;
  Decoder7 decoder(model, *tok, 0);
  const auto batched = decoder.run(requests, stops);
  for (size_t i = 0; i < requests.size(); ++i) CHECK(batched[i].decoded.ids == decoder.run({requests[i]}, stops)[0].decoded.ids);
  CHECK_THROWS_WITH(Decoder7(model, *tok, 5).run({requests[0]}, stops), test::contains("more than ctx_len 5"));
}
