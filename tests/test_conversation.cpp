// Conversation rendering and labelling (SPEC section 7) against the original's output, exactly,
// for every entry of the conversations fixture (VRWKV_CONVERSATIONS_FIXTURE), and the clean-up.
#include <algorithm>
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

namespace {

// v7's expected ids spelled out from SPEC-v7 section 7: each turn's pieces encoded on their own, K ids
// 65535 per <image>; a label for every id of a gpt turn but its first 3.
struct Expected7 {
  std::vector<int64_t> ids, labels;
  void add(const Tokenizer& tokenizer, const std::string& piece, bool reply, size_t& turn_start) {
    for (const auto id : tokenizer.encode(piece)) push(id, reply, turn_start);
  }
  void image(int64_t K, size_t& turn_start) {
    for (int64_t n = 0; n < K; ++n) push(kV7ImageTokenId, false, turn_start);
  }
  void push(int64_t id, bool reply, size_t turn_start) {
    ids.push_back(id);
    labels.push_back(reply && ids.size() - 1 - turn_start >= 3 ? id : kIgnoreIndex);
  }
};

SampleError v7_error(const Conversation& c, int64_t images, const V7Layout& layout, const Tokenizer& tokenizer) {
  try {
    render_conversation_v7(c, images, layout, tokenizer);
  } catch (const SampleError& e) {
    return e;
  }
  FAIL("expected a SampleError");
  return SampleError("", "");
}

}  // namespace

TEST_CASE("v7 samples: images first, K ids 65535 each, masks, exactly ctx_len", "[conversation]") {
  const auto tokenizer = world();
  const V7Layout layout{4, 64};
  // Two images in the first human turn, one more in a later one, and an empty last reply (the
  // generation prompt's "Assistant:").
  const Conversation c{"m", "a.jpg",
                       {{"human", "What is in these?\n<image>\n\n  <image> Compare."},
                        {"gpt", "Two cats."},
                        {"human", "  And this one? <image>"},
                        {"gpt", ""}}};
  const auto got = render_conversation_v7(c, 3, layout, *tokenizer);
  CHECK(got.text ==
        "User: <image>\n<image>\nWhat is in these?\n   Compare.\n\nAssistant: Two cats.\n\n"
        "User: <image>\nAnd this one?\n\nAssistant:");
  Expected7 e;
  size_t start = 0;
  e.add(*tokenizer, "User: ", false, start);
  e.image(4, start);
  e.add(*tokenizer, "\n", false, start);
  e.image(4, start);
  e.add(*tokenizer, "\nWhat is in these?\n   Compare.\n\n", false, start);
  start = e.ids.size();
  e.add(*tokenizer, "Assistant: Two cats.\n\n", true, start);
  start = e.ids.size();
  e.add(*tokenizer, "User: ", false, start);
  e.image(4, start);
  e.add(*tokenizer, "\nAnd this one?\n\n", false, start);
  start = e.ids.size();
  e.add(*tokenizer, "Assistant:", true, start);
  REQUIRE(e.ids.size() < 64);
  const size_t used = e.ids.size();
  e.ids.resize(64, kV7PadId);
  e.labels.resize(64, kIgnoreIndex);
  CHECK(got.input_ids == e.ids);
  CHECK(got.labels == e.labels);
  CHECK(std::count(got.input_ids.begin(), got.input_ids.end(), kV7ImageTokenId) == 12);
  CHECK(tokenizer->encode("Assistant:") == std::vector<int64_t>{5585, 41693, 59});  // the 3 ids never learnt
  CHECK(std::count_if(got.labels.begin(), got.labels.begin() + used, [](int64_t l) { return l != kIgnoreIndex; }) > 0);

  SECTION("text-only samples have no image ids") {
    const Conversation text{"t", "", {{"human", " hi "}, {"gpt", "hello"}}};
    const auto r = render_conversation_v7(text, 0, layout, *tokenizer);
    CHECK(r.text == "User: hi\n\nAssistant: hello\n\n");
    CHECK(std::count(r.input_ids.begin(), r.input_ids.end(), kV7ImageTokenId) == 0);
    CHECK(r.input_ids.size() == 64);
  }
  // Where the third image's last id sits in the whole sample.
  const auto whole = render_conversation_v7(c, 3, V7Layout{4, 256}, *tokenizer);
  const auto last_image = static_cast<int64_t>(
      std::find(whole.input_ids.rbegin(), whole.input_ids.rend(), kV7ImageTokenId).base() - whole.input_ids.begin() - 1);
  REQUIRE(last_image + 3 < static_cast<int64_t>(used));
  SECTION("ctx_len 0 renders the whole sample, neither cut nor padded (validate-data's lengths)") {
    const auto all = render_conversation_v7(c, 3, V7Layout{4, 0}, *tokenizer);
    CHECK(all.input_ids.size() == used);
    CHECK(std::equal(all.input_ids.begin(), all.input_ids.end(), whole.input_ids.begin()));
    CHECK(std::equal(all.labels.begin(), all.labels.end(), whole.labels.begin()));
  }
  SECTION("truncation keeps the first ctx_len ids while the images fit") {
    const auto cut = render_conversation_v7(c, 3, V7Layout{4, last_image + 3}, *tokenizer);
    CHECK(cut.input_ids.size() == size_t(last_image + 3));
    CHECK(std::equal(cut.input_ids.begin(), cut.input_ids.end(), whole.input_ids.begin()));
    CHECK(std::equal(cut.labels.begin(), cut.labels.end(), whole.labels.begin()));
  }
  SECTION("a ctx_len that would cut an image skips the sample") {
    // Ending inside the first run of K (it starts after "User: "), before any image, or one id short of
    // the third image's end.
    for (int64_t ctx : {int64_t{4}, int64_t{1}, last_image}) {
      INFO("ctx_len " << ctx);
      const auto err = v7_error(c, 3, V7Layout{4, ctx}, *tokenizer);
      CHECK(err.reason() == "image_truncated");
      CHECK_THAT(std::string(err.what()), vrwkv::test::contains("would cut its images"));
    }
  }
  SECTION("placeholders must match the images, and stay out of replies") {
    CHECK(v7_error(c, 2, layout, *tokenizer).reason() == "image_count");
    CHECK(v7_error(Conversation{"t", "", {{"human", "hi"}, {"gpt", "x"}}}, 1, layout, *tokenizer).reason() ==
          "image_count");
    const Conversation reply{"r", "a.jpg", {{"human", "<image> hi"}, {"gpt", "see <image>"}}};
    CHECK(v7_error(reply, 2, layout, *tokenizer).reason() == "placeholder_in_reply");
    const Conversation who{"w", "", {{"human", "hi"}, {"robot", "x"}}};
    CHECK(v7_error(who, 0, layout, *tokenizer).reason() == "unknown_speaker");
  }
}
