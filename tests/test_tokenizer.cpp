// Tokenizers: the World tokenizer against the original's ids, vocab-file errors, SentencePiece.

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "test_paths.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/tokenizer.h"
#include "text/world_tokenizer.h"

using vrwkv::test::contains;
using vrwkv::text::WorldTokenizer;

namespace {

std::string fixture_path() {
  return vrwkv::test::env_or("VRWKV_TOKENIZER_FIXTURE",
                             vrwkv::test::shared_dir() + "/fixtures/tokenizer_dev.json");
}

nlohmann::json load_fixture() {
  std::ifstream in(fixture_path());
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// Loaded once: the full vocab takes a noticeable fraction of a second.
const WorldTokenizer& world() {
  static const WorldTokenizer tok(vrwkv::test::shared_dir() + "/data/" +
                                  load_fixture().at("vocab").get<std::string>());
  return tok;
}

std::string write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path.string();
}

// Expects constructing a WorldTokenizer from `content` to fail naming the file, the line and `why`.
void expect_vocab_error(const std::string& name, const std::string& content, int line,
                        const std::string& why) {
  const auto dir = vrwkv::test::scratch_dir("tokenizer_bad_vocab");
  const std::string path = write_file(dir / name, content);
  INFO(content);
  REQUIRE_THROWS_AS(WorldTokenizer(path), vrwkv::Error);
  REQUIRE_THROWS_WITH(WorldTokenizer(path), contains(path) && contains("line " + std::to_string(line)) &&
                                                contains(why));
}

}  // namespace

TEST_CASE("World tokenizer matches the original on every fixture case", "[tokenizer]") {
  const auto fixture = load_fixture();
  const auto& tok = world();
  CHECK(tok.vocab_size() == 65536);
  CHECK(tok.max_id() == 65529);
  const auto& cases = fixture.at("cases");
  REQUIRE(cases.size() > 0);
  for (const auto& c : cases) {
    const auto text = c.at("text").get<std::string>();
    const auto ids = c.at("ids").get<std::vector<int64_t>>();
    INFO("text: " << text);
    CHECK(tok.encode(text) == ids);
    CHECK(tok.decode(ids) == text);
  }
}

TEST_CASE("World tokenizer decodes id 0 to nothing and rejects unknown ids", "[tokenizer]") {
  const auto& tok = world();
  CHECK(tok.decode({0, 0}).empty());
  CHECK(tok.decode({}).empty());
  for (const int64_t bad : {int64_t{-1}, int64_t{65530}, int64_t{65535}, int64_t{1} << 40}) {
    INFO("id " << bad);
    REQUIRE_THROWS_AS(tok.decode({1, bad}), vrwkv::Error);
    REQUIRE_THROWS_WITH(tok.decode({bad}), contains("unknown token id " + std::to_string(bad)));
  }
}

TEST_CASE("World tokenizer encodes every single byte and round-trips arbitrary bytes", "[tokenizer]") {
  const auto& tok = world();
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  CHECK(tok.decode(tok.encode(all)) == all);
  for (int b = 0; b < 256; ++b) {
    const auto ids = tok.encode(std::string(1, static_cast<char>(b)));
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] == b + 1);  // the file lists bytes 0..255 as ids 1..256
  }
}

TEST_CASE("World vocab literals: escapes, bytes literals and greedy longest match", "[tokenizer]") {
  const auto dir = vrwkv::test::scratch_dir("tokenizer_literals");
  // Lines exercise each escape kind; ids leave a gap (9) that must decode as unknown.
  const std::string vocab =
      "1 'a' 1\n"
      "2 'b' 1\n"
      "3 'c' 1\n"
      "4 'ab' 2\n"
      "5 'abcd' 4\n"
      "6 '\\\\' 1\n"
      "7 '\\'' 1\n"
      "8 \"\\\"\" 1\n"
      "10 '\\u00e9' 2\n"
      "11 b'\\xe9' 1\n"
      "12 '\\x41\\101' 2\n"
      "13 '\\U0001F600' 4\n"
      "14 '\xc3\xa9t\xc3\xa9' 5\n"
      "15 'x y' 3\n"
      "16 '\\n\\r\\t' 3\n"
      "17 b'\\u00' 4\n"
      "18 '\\x80' 2\n"
      "19 '\\0' 1\r\n"
      "\n";
  const WorldTokenizer tok(write_file(dir / "vocab.txt", vocab));
  CHECK(tok.max_id() == 19);
  CHECK(tok.vocab_size() == 64);
  CHECK(tok.token_bytes(6) == "\\");
  CHECK(tok.token_bytes(7) == "'");
  CHECK(tok.token_bytes(8) == "\"");
  CHECK(tok.token_bytes(10) == "\xc3\xa9");
  CHECK(tok.token_bytes(11) == "\xe9");
  CHECK(tok.token_bytes(12) == "AA");
  CHECK(tok.token_bytes(13) == "\xf0\x9f\x98\x80");
  CHECK(tok.token_bytes(14) == "\xc3\xa9t\xc3\xa9");
  CHECK(tok.token_bytes(15) == "x y");
  CHECK(tok.token_bytes(16) == "\n\r\t");
  CHECK(tok.token_bytes(17) == "\\u00");  // \u is no escape in a bytes literal
  CHECK(tok.token_bytes(18) == "\xc2\x80");  // in a str, \x80 is the code point U+0080
  CHECK(tok.token_bytes(19) == std::string(1, '\0'));
  CHECK_THROWS_WITH(tok.decode({9}), contains("unknown token id 9"));

  // "abca": the walk reaches "abc" (no token), so it backs up to "ab", then "c", then "a".
  CHECK(tok.encode("abca") == std::vector<int64_t>{4, 3, 1});
  CHECK(tok.encode("abcdab") == std::vector<int64_t>{5, 4});
  CHECK(tok.encode("ba") == std::vector<int64_t>{2, 1});
  CHECK(tok.encode("\xc3\xa9t\xc3\xa9\xc3\xa9") == std::vector<int64_t>{14, 10});
  CHECK(tok.decode({5, 0, 13}) == "abcd\xf0\x9f\x98\x80");
  // A byte that begins no entry cannot be encoded.
  CHECK_THROWS_WITH(tok.encode("abz"), contains("0x7a") && contains("offset 2"));
}

TEST_CASE("Malformed World vocab files name the file and line", "[tokenizer]") {
  expect_vocab_error("unterminated.txt", "1 'a' 1\n2 'b' 1\n3 'abc 3\n", 3, "unterminated");
  expect_vocab_error("bad_hex.txt", "1 'a' 1\n2 '\\xZ1' 1\n", 2, "hex");
  expect_vocab_error("no_quote.txt", "1 'a' 1\n2 abc 3\n", 2, "literal");
  expect_vocab_error("wrong_length.txt", "1 'a' 1\n2 'ab' 3\n", 2, "length");
  expect_vocab_error("wrong_length_utf8.txt", "1 '\\u00e9' 1\n", 1, "length");
  expect_vocab_error("missing_length.txt", "1 'a' 1\n2 'b'\n", 2, "length");
  expect_vocab_error("trailing.txt", "1 'a' 1 x\n", 1, "after the byte length");
  expect_vocab_error("non_ascii_bytes.txt", "1 'a' 1\n2 b'\xc3\xa9' 2\n", 2, "bytes literal");
  expect_vocab_error("surrogate.txt", "1 '\\ud800' 3\n", 1, "code point");
  expect_vocab_error("duplicate_id.txt", "1 'a' 1\n1 'b' 1\n", 2, "already defined on line 1");
  expect_vocab_error("duplicate_bytes.txt", "1 'a' 1\n2 b'a' 1\n", 2, "repeats the bytes");
  expect_vocab_error("id_zero.txt", "0 'a' 1\n", 1, "reserved");
  expect_vocab_error("no_id.txt", "1 'a' 1\n\n'b' 1\n", 3, "<id>");
}

TEST_CASE("A missing World vocab file names the file", "[tokenizer]") {
  const std::string path = "/nonexistent/dir/vocab.txt";
  REQUIRE_THROWS_WITH(WorldTokenizer(path), contains(path));
  REQUIRE_THROWS_WITH(vrwkv::text::make_tokenizer("world", path), contains(path));
}

TEST_CASE("make_tokenizer rejects unknown kinds naming the accepted ones", "[tokenizer]") {
  REQUIRE_THROWS_WITH(vrwkv::text::make_tokenizer("bpe", "x.model"),
                      contains("bpe") && contains("world") && contains("sentencepiece"));
  const auto tok = vrwkv::text::make_tokenizer(
      "world", vrwkv::test::shared_dir() + "/data/rwkv_vocab_v20230424.txt");
  CHECK(tok->vocab_size() == 65536);
  CHECK(tok->encode("Hello world") == std::vector<int64_t>{33155, 40213});
}

TEST_CASE("SentencePiece tokenizer round-trips through a freshly trained model", "[tokenizer]") {
  const auto dir = vrwkv::test::scratch_dir("tokenizer_sentencepiece");
  std::string corpus;
  const char* lines[] = {
      "the quick brown fox jumps over the lazy dog",
      "a small model reads the text and writes the tokens",
      "visual language models look at images and answer questions",
      "the cat sat on the mat while the dog slept by the door",
      "training a tokenizer needs a little text with repeated words",
  };
  for (int rep = 0; rep < 20; ++rep)
    for (const char* line : lines) corpus += std::string(line) + "\n";
  const std::string input = write_file(dir / "corpus.txt", corpus);
  const std::string prefix = (dir / "tiny").string();
  REQUIRE_NOTHROW(vrwkv::text::train_sentencepiece(
      "--input=" + input + " --model_prefix=" + prefix +
      " --vocab_size=60 --model_type=bpe --character_coverage=1.0 --minloglevel=2"));

  const auto tok = vrwkv::text::make_tokenizer("sentencepiece", prefix + ".model");
  CHECK(tok->vocab_size() == 60);
  for (const char* text : {"the quick brown fox jumps over the lazy dog",
                           "the cat looks at the text", "answer questions"}) {
    INFO(text);
    const auto ids = tok->encode(text);
    REQUIRE(!ids.empty());
    CHECK(ids.size() < std::string(text).size());  // merges were learned
    for (const auto id : ids) CHECK((id >= 0 && id < 60));
    CHECK(tok->decode(ids) == text);
  }
  REQUIRE_THROWS_WITH(tok->decode({60}), contains("unknown token id 60"));

  const std::string missing = (dir / "missing.model").string();
  REQUIRE_THROWS_AS(vrwkv::text::make_tokenizer("sentencepiece", missing), vrwkv::Error);
  REQUIRE_THROWS_WITH(vrwkv::text::make_tokenizer("sentencepiece", missing), contains(missing));
  // A file that exists but is no model also fails clearly.
  REQUIRE_THROWS_WITH(vrwkv::text::SentencePieceTokenizer(input), contains(input));
}
