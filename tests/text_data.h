// A small text-only LLaVA data file for the trainer tests: sample i asks for number i mod 5.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace vrwkv::test {

// <scratch dir `name`>/data.json with `n` samples; returns the scratch dir.
inline std::filesystem::path write_text_data(const std::string& name, int n) {
  const auto dir = scratch_dir(name);
  nlohmann::json samples = nlohmann::json::array();
  for (int i = 0; i < n; ++i)
    samples.push_back({{"id", "s" + std::to_string(i)},
                       {"conversations",
                        {{{"from", "human"}, {"value", "Name number " + std::to_string(i % 5) + "."}},
                         {{"from", "gpt"}, {"value", "It is " + std::to_string(i % 5) + "."}}}}});
  std::ofstream(dir / "data.json") << samples.dump(1);
  return dir;
}

}  // namespace vrwkv::test
