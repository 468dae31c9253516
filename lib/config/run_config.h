// The run configuration: one JSON file (plus --set overrides) that chooses everything about a run.
// The schema in run_config.cpp is the single source of the keys: their defaults, docs/config.md,
// which ones a resume may change, and the member of RunConfig each one fills.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "config/schema.h"
#include "model/config.h"
#include "model/config7.h"
#include "model/sequence.h"
#include "text/conversation.h"

namespace vrwkv {

// The choices of a few keys, as values the code compares instead of strings.
enum class Precision { kFp32, kBf16 };               // train.precision
enum class DeviceSetting { kAuto, kCpu, kCuda };     // train.device
enum class FrozenWeights { kReference, kCopy };      // checkpoint.frozen

// Their names in configs (the schema's choices), for messages and for names given on command lines.
const config::EnumNames<Precision>& precision_names();
const config::EnumNames<DeviceSetting>& device_setting_names();
const config::EnumNames<FrozenWeights>& frozen_weights_names();
const config::EnumNames<ModelFamily>& model_family_names();

// The members below are filled by run_config_from_json from the schema, which holds every default;
// they start zeroed so that no second set of defaults exists here.

struct TokenizerConfig {
  std::string kind;  // "world" | "sentencepiece"
  std::string path;
};

struct ImageConfig {
  int64_t size{};
  std::array<float, 3> mean{}, std{};
  std::string aspect;  // "crop" | "pad"
  bool synthetic{};  // no files read: a picture drawn from each path (synthetic_images.h)
};

struct DataConfig {
  std::string file;          // LLaVA JSON array or JSON Lines
  std::string image_folder;  // image paths in the data are relative to it
  text::PromptStyle prompt_style{};
  int64_t ctx_len{};
  bool drop_empty_replies{};  // splitting long conversations is offline: `visualrwkv clean-data`
  double max_skip_fraction{};  // stop the job when more samples than this are bad
  std::string val_file;      // validation samples (LLaVA format); or
  double val_fraction{};     // this fraction of `file` held out of training (fixed by the seed)
  int64_t num_workers{};
  int64_t prefetch_batches{};
  ImageConfig image;
};

struct InitConfig {
  std::string rwkv, vision, checkpoint;
};

struct TrainConfig {
  int64_t stage{};
  int64_t freeze_rwkv_layers{};  // resolved: the config's -1 replaced by the stage's default
  bool freeze_emb{}, freeze_proj{}, train_vision{};
  int64_t micro_batch_size{}, grad_accumulation{}, steps{};
  Precision precision{};
  DeviceSetting device{};
  bool grad_checkpointing{};
  int64_t zero_stage{}, bucket_mb{};
  double dist_timeout_s{};
  int64_t max_bad_steps{};    // non-finite steps in a row that stop the run
  int64_t val_every_steps{};  // validation loss every N steps and at the last (0: the last only)
};

struct OptimConfig {
  double lr_init{}, lr_final{};
  int64_t warmup_steps{};
  double beta1{}, beta2{}, eps{}, weight_decay{}, grad_clip{};
  double vision_lr_scale{};
};

struct CheckpointConfig {
  std::string output_dir;
  int64_t every_steps{}, keep_last{};
  FrozenWeights frozen{};  // frozen weights a file supplied: referred to or copied
};

struct RunConfig {
  std::string source;         // the file it came from, for messages
  nlohmann::json resolved;    // every key, defaults filled in
  ModelFamily family{};       // model.family: which of the two models below the run uses
  ModelConfig model;          // v6 (default-constructed for v7)
  VisualRwkv7Config model7;   // v7 (default-constructed for v6)
  ScanMode scan_mode{};
  TokenizerConfig tokenizer;
  DataConfig data;
  InitConfig init;
  TrainConfig train;
  OptimConfig optim;
  CheckpointConfig checkpoint;
  int64_t log_every_steps{};
  uint64_t seed{};
};

const config::Field& run_config_schema();

// Reads, overrides, validates. Errors name the file and the key path. Relative paths written in
// the file are relative to the file's folder; those given in overrides to the current directory.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig run_config_from_json(const nlohmann::json& config, const std::string& source);

// Throws vrwkv::Error naming the config and `command` unless the config's model.family is `family`:
// for the commands that do not run the other family yet.
void require_family(const RunConfig& config, ModelFamily family, const std::string& command);

}  // namespace vrwkv
