// Sizes of a VisualRWKV-7 model (SPEC-v7 sections 1, 5, 6): the RWKV-7 language model, the three
// towers, the projector and K, and how a config's `model` section (model.family "v7") fills them.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <string>

#include "model/config.h"
#include "model/vision_towers7.h"

namespace vrwkv {

enum class ModelFamily { kV6, kV7 };

// "v6" or "v7" (the config reads them through run_config's model_family_names).
std::string to_string(ModelFamily family);

enum class Projector7 { kGatedMlp, kLinear };

// "mlp" or "linear" (the original's proj_type); anything else is an error naming `where`.
Projector7 projector7_from_string(const std::string& name, const std::string& where);
std::string to_string(Projector7 projector);

struct VisualRwkv7Config {
  Rwkv7Config rwkv;
  VisionTowers7Config towers;
  Projector7 projector = Projector7::kGatedMlp;  // the scripts' proj_type
  int64_t tokens_per_image = 1024;              // K: the scripts' num_token_per_image

  // The LM's widths filled in, the towers' grids and K checked; throws vrwkv::Error naming the field.
  VisualRwkv7Config resolved() const;
};

// A config's `model` section for v7: n_layer, n_embd, head_size, vocab_size and d_decay shared with
// v6's keys; d_aaa, d_mv, d_gate, projector, tokens_per_image; towers.{dino,siglip,sam}.* over the
// full-size presets (SAM's global blocks: every global_attn_every-th, as ViT-B's 2, 5, 8, 11).
// Errors name `where` and the key.
VisualRwkv7Config visual_rwkv7_config_from_json(const nlohmann::json& model, const std::string& where);

}  // namespace vrwkv
