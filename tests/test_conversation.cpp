// Conversation rendering and labelling (SPEC section 7) against the original's output, exactly,
// for every entry of the conversations fixture (VRWKV_CONVERSATIONS_FIXTURE), and the clean-up.
#include <fstream>

#include <nlohmann/json.hpp>

#include "catch_compat.h"
#include "test_paths.h"
#include "text/conversation.h"
#include "text/tokenizer.h"

namespace {

using namespace vrwkv::text;

std::unique_ptr<Tokenizer> world() {
  return make_tokenizer("world", vrwkv::test::shared_dir() + "/data/rwkv_vocab_v20230424.txt");
}

Conversation from_json(const nlohmann::json& j) {
  Conversation c;
  c.id = j.at("id").get<std::string>();
  if (j.contains("image")) c.image = j["image"].get<std::string>();
  for (const auto& t : j.at("conversations")) c.turns.push_back({t.at("from"), t.at("value")});
  return c;
}

Conversation make(std::vector<Turn> turns, std::string image = "x.jpg") { return {"t", std::move(image), std::move(turns)}; }

}  // namespace

TEST_CASE("rendering matches every entry of the conversations fixture", "[conversation]") {
  const auto path = vrwkv::test::env_or("VRWKV_CONVERSATIONS_FIXTURE",
                                        vrwkv::test::shared_dir() + "/fixtures/conversations_dev.json");
  std::ifstream in(path);
  REQUIRE(in.good());
  const auto fixture = nlohmann::json::parse(in);
  const auto tokenizer = world();
  std::map<std::string, Conversation> samples;
  for (const auto& s : fixture.at("samples")) samples[s.at("id")] = from_json(s);
  int checked = 0;
  for (const auto& e : fixture.at("expected")) {
    const std::string id = e.at("id"), position = e.at("image_position");
    INFO("sample " << id << " image position " << position);
    REQUIRE(samples.count(id));
    CHECK(samples[id].has_image() == e.at("has_image").get<bool>());
    const auto r = render_conversation(samples[id], prompt_style_from_string(position), *tokenizer);
    CHECK(r.text == e.at("text").get<std::string>());
    CHECK(r.input_ids == e.at("input_ids").get<std::vector<int64_t>>());
    CHECK(r.labels == e.at("labels").get<std::vector<int64_t>>());
    ++checked;
  }
  CHECK(checked == static_cast<int>(fixture.at("expected").size()));
  CHECK(checked >= 7);
}

TEST_CASE("strip and blank-line collapse follow Python", "[conversation]") {
  CHECK(py_strip("  \t a b \n") == "a b");
  CHECK(py_strip("\xe3\x80\x80x\xc2\xa0") == "x");  // U+3000 and U+00A0 are whitespace to Python
  CHECK(py_strip("") == "");
  CHECK(collapse_blank_lines("a\n\n\nb") == "a\nb");
  CHECK(collapse_blank_lines("a\n  \n\t\n  b") == "a\n  b");  // whitespace after the last newline stays
  CHECK(collapse_blank_lines("a\nb\n") == "a\nb\n");
  CHECK(collapse_blank_lines("a \n \n") == "a \n");
}

TEST_CASE("bad conversations are SampleErrors with a reason", "[conversation]") {
  const auto tokenizer = world();
  auto reason_of = [&](const Conversation& c) {
    try {
      render_conversation(c, PromptStyle::kImageFirst, *tokenizer);
    } catch (const SampleError& e) {
      return e.reason();
    }
    return std::string("none");
  };
  CHECK(reason_of(make({})) == "empty_conversation");
  CHECK(reason_of(make({{"human", "<image>\nhi"}, {"robot", "x"}})) == "unknown_speaker");
  CHECK(reason_of(make({{"human", "<image>\nhi <image>"}, {"gpt", "x"}})) == "multiple_placeholders");
  CHECK(reason_of(make({{"human", "<image>\nhi"}, {"gpt", "x"}, {"human", "<image>"}, {"gpt", "y"}})) ==
        "multiple_placeholders");
  CHECK(reason_of(make({{"human", "hi"}, {"gpt", "x"}})) == "image_without_placeholder");
  CHECK(reason_of(make({{"human", "<image> hi"}, {"gpt", "x"}}, "")) == "placeholder_without_image");
  CHECK(reason_of(make({{"human", "<image>\nhi"}, {"gpt", "x"}})) == "none");
}

TEST_CASE("clean-up drops empty replies and splits long conversations keeping the image", "[conversation]") {
  const auto c = make({{"human", "<image>\nq1"}, {"gpt", ""}, {"human", "q2"}, {"gpt", "a2"}, {"human", "q3"},
                       {"gpt", "a3"}, {"human", "q4"}, {"gpt", "a4"}, {"human", "q5"}});
  const auto all = clean_conversation(c, 0);
  REQUIRE(all.size() == 1);
  REQUIRE(all[0].turns.size() == 6);  // rounds 2, 3, 4; round 1's reply is empty, q5 has none
  CHECK(all[0].turns[0].value == "<image>\nq2");  // the image moves to the first kept turn
  const auto split = clean_conversation(c, 2);
  REQUIRE(split.size() == 2);
  CHECK(split[0].turns.size() == 4);
  CHECK(split[1].turns.size() == 2);
  CHECK(split[1].turns[0].value == "<image>\nq4");
  CHECK(split[1].id == "t#1");
  CHECK(split[1].image == "x.jpg");
  const auto tokenizer = world();
  for (const auto& piece : split) CHECK_NOTHROW(render_conversation(piece, PromptStyle::kSandwich, *tokenizer));
  CHECK(clean_conversation(make({{"human", "<image>\nq"}, {"gpt", "  "}}), 0).empty());
}
