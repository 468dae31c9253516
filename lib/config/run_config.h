// The run configuration: one JSON file (plus --set overrides) that chooses everything about a run.
// The schema in run_config.cpp is the single source of the keys, their defaults and docs/config.md.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "config/schema.h"
#include "model/config.h"
#include "model/sequence.h"
#include "text/conversation.h"

namespace vrwkv {

struct TokenizerConfig {
  std::string kind;  // "world" | "sentencepiece"
  std::string path;
};

struct ImageConfig {
  int64_t size = 336;
  std::array<float, 3> mean{}, std{};
  std::string aspect;  // "crop" | "pad"
};

struct DataConfig {
  std::string file;          // LLaVA JSON array or JSON Lines
  std::string image_folder;  // image paths in the data are relative to it
  text::PromptStyle prompt_style = text::PromptStyle::kImageFirst;
  int64_t ctx_len = 1024;
  bool drop_empty_replies = false;  // splitting long conversations is offline: `visualrwkv clean-data`
  double max_skip_fraction = 0.01;  // stop the job when more samples than this are bad
  int64_t num_workers = 2;
  int64_t prefetch_batches = 4;
  ImageConfig image;
};

struct RunConfig {
  std::string source;         // the file it came from, for messages
  nlohmann::json resolved;    // every key, defaults filled in
  ModelConfig model;
  ScanMode scan_mode = ScanMode::kBi;
  TokenizerConfig tokenizer;
  DataConfig data;
  uint64_t seed = 0;
};

const config::Field& run_config_schema();

// Reads, overrides, validates. Errors name the file and the key path. Relative paths inside the
// config are taken relative to the current directory.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig run_config_from_json(const nlohmann::json& config, const std::string& source);

}  // namespace vrwkv
