// `visualrwkv tokenize`: token ids of a text, as a JSON array on one line (for checking tokenizers).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "commands.h"
#include "text/tokenizer.h"

namespace {

const char* kUsage =
    "usage: visualrwkv tokenize --vocab FILE (--text T | --file F) [--kind world|sentencepiece]";

}  // namespace

int cmd_tokenize(const std::vector<std::string>& args) {
  std::string vocab, kind = "world", text, file;
  bool have_text = false, have_file = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage << "\n";
      return 0;
    }
    VRWKV_CHECK(a == "--vocab" || a == "--text" || a == "--file" || a == "--kind",
                "tokenize: unknown argument '", a, "'\n", kUsage);
    VRWKV_CHECK(i + 1 < args.size(), "tokenize: ", a, " needs a value\n", kUsage);
    const std::string& value = args[++i];
    if (a == "--vocab") vocab = value;
    else if (a == "--kind") kind = value;
    else if (a == "--text") text = value, have_text = true;
    else file = value, have_file = true;
  }
  VRWKV_CHECK(!vocab.empty(), "tokenize: --vocab is required\n", kUsage);
  VRWKV_CHECK(have_text != have_file, "tokenize: give exactly one of --text and --file\n", kUsage);
  if (have_file) {
    std::ifstream in(file, std::ios::binary);
    VRWKV_CHECK(in, "tokenize: cannot open text file ", file);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    VRWKV_CHECK(!in.bad(), "tokenize: cannot read text file ", file);
    text = buffer.str();
  }
  const auto tokenizer = vrwkv::text::make_tokenizer(kind, vocab);
  const std::vector<int64_t> ids = tokenizer->encode(text);
  std::string line = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  std::cout << line;
  return 0;
}
