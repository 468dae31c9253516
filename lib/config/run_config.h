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
  bool synthetic = false;  // no files read: a picture drawn from each path (synthetic_images.h)
};

struct DataConfig {
  std::string file;          // LLaVA JSON array or JSON Lines
  std::string image_folder;  // image paths in the data are relative to it
  text::PromptStyle prompt_style = text::PromptStyle::kImageFirst;
  int64_t ctx_len = 1024;
  bool drop_empty_replies = false;  // splitting long conversations is offline: `visualrwkv clean-data`
  double max_skip_fraction = 0.01;  // stop the job when more samples than this are bad
  std::string val_file;      // validation samples (LLaVA format); or
  double val_fraction = 0;   // this fraction of `file` held out of training (fixed by the seed)
  int64_t num_workers = 2;
  int64_t prefetch_batches = 4;
  ImageConfig image;
};

struct InitConfig {
  std::string rwkv, vision, checkpoint;
};

struct TrainConfig {
  int64_t stage = 1;
  int64_t freeze_rwkv_layers = -1;  // resolved: -1 replaced by the stage's default
  bool freeze_emb = true, freeze_proj = false, train_vision = false;
  int64_t micro_batch_size = 8, grad_accumulation = 1, steps = 1000;
  std::string precision = "fp32", device = "auto";
  bool grad_checkpointing = false;
  int64_t zero_stage = 0, bucket_mb = 25;
  double dist_timeout_s = 600;
  int64_t max_bad_steps = 3;    // non-finite steps in a row that stop the run
  int64_t val_every_steps = 0;  // validation loss every N steps and at the last (0: the last only)
};

struct OptimConfig {
  double lr_init = 1e-3, lr_final = 1e-5;
  int64_t warmup_steps = 0;
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8, weight_decay = 0, grad_clip = 1.0;
  double vision_lr_scale = 1.0;
};

struct CheckpointConfig {
  std::string output_dir;
  int64_t every_steps = 500, keep_last = 3;
  std::string frozen = "reference";  // frozen weights a file supplied: "reference" or "copy"
};

struct RunConfig {
  std::string source;         // the file it came from, for messages
  nlohmann::json resolved;    // every key, defaults filled in
  ModelConfig model;
  ScanMode scan_mode = ScanMode::kBi;
  TokenizerConfig tokenizer;
  DataConfig data;
  InitConfig init;
  TrainConfig train;
  OptimConfig optim;
  CheckpointConfig checkpoint;
  int64_t log_every_steps = 10;
  uint64_t seed = 0;
};

const config::Field& run_config_schema();

// Reads, overrides, validates. Errors name the file and the key path. Relative paths written in
// the file are relative to the file's folder; those given in overrides to the current directory.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig run_config_from_json(const nlohmann::json& config, const std::string& source);

}  // namespace vrwkv
