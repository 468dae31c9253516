// visualrwkv clean-data IN OUT [--drop-empty-replies] [--max-rounds N]: the original's clean-up of
// the 665K mix as an offline step (splitting changes the number of samples, so it is not done on
// the fly): drops rounds with an empty or missing reply, splits long conversations (each piece
// keeps the image), writes JSON Lines.
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "llava_dataset.h"
#include "text/conversation.h"

int cmd_clean_data(const std::vector<std::string>& argv) {
  using namespace vrwkv;
  const char* usage = "visualrwkv clean-data IN OUT.jsonl [--max-rounds N]";
  const auto args = cli::parse_args(argv, {"max-rounds"}, {}, usage);
  VRWKV_CHECK(args.positional.size() == 2, "usage: ", usage);
  const data::LlavaDataset dataset(args.positional[0]);
  const int max_rounds = args.has("max-rounds") ? std::stoi(args.get("max-rounds")) : 0;
  const std::string out_path = args.positional[1], tmp = out_path + ".tmp";
  std::ofstream out(tmp, std::ios::binary);
  VRWKV_CHECK(out.good(), out_path, ": cannot write");
  int64_t written = 0, bad = 0, emptied = 0;
  for (size_t i = 0; i < dataset.size(); ++i) {
    text::Conversation c;
    try {
      c = dataset.conversation(i);
    } catch (const text::SampleError& e) {
      std::fprintf(stderr, "skipped: %s\n", e.what());
      ++bad;
      continue;
    }
    const auto pieces = text::clean_conversation(c, max_rounds);
    if (pieces.empty()) ++emptied;
    for (const auto& piece : pieces) {
      nlohmann::json j = {{"id", piece.id}};
      if (piece.has_image()) j["image"] = piece.image;
      j["conversations"] = nlohmann::json::array();
      for (const auto& t : piece.turns) j["conversations"].push_back({{"from", t.from}, {"value", t.value}});
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      ++written;
    }
  }
  out.close();
  VRWKV_CHECK(out.good(), out_path, ": write failed");
  std::rename(tmp.c_str(), out_path.c_str());
  std::printf("%zu samples in, %lld out (%lld without any answered round, %lld unreadable)\n", dataset.size(),
              static_cast<long long>(written), static_cast<long long>(emptied), static_cast<long long>(bad));
  return 0;
}
