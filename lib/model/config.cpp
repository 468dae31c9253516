#include "model/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/error.h"
#include "base/json_field.h"

namespace vrwkv {

ModelConfig ModelConfig::resolved() const {
  ModelConfig c = *this;
  if (c.dim_att == 0) c.dim_att = c.n_embd;
  if (c.dim_ffn == 0) c.dim_ffn = static_cast<int64_t>(c.n_embd * 3.5 / 32) * 32;
  if (c.d_mix == 0) c.d_mix = c.n_embd >= 4096 ? 64 : 32;
  if (c.d_decay == 0) c.d_decay = c.n_embd >= 4096 ? 128 : 64;
  VRWKV_CHECK(c.n_layer > 0, "model.n_layer must be positive, got ", c.n_layer);
  VRWKV_CHECK(c.n_embd > 0, "model.n_embd must be positive, got ", c.n_embd);
  VRWKV_CHECK(c.head_size > 0 && c.dim_att % c.head_size == 0, "model.dim_att (", c.dim_att,
              ") must be a multiple of model.head_size (", c.head_size, ")");
  VRWKV_CHECK(c.vocab_size > 0, "model.vocab_size must be positive");
  const auto& v = c.vision;
  VRWKV_CHECK(v.patch_size > 0 && v.image_size % v.patch_size == 0, "vision.image_size (", v.image_size,
              ") must be a multiple of vision.patch_size (", v.patch_size, ")");
  VRWKV_CHECK(v.num_attention_heads > 0 && v.hidden_size % v.num_attention_heads == 0,
              "vision.hidden_size must be a multiple of vision.num_attention_heads");
  VRWKV_CHECK(c.grid_size >= -1, "model.grid_size must be -1, 0, 1 or a grid side > 1, got ", c.grid_size);
  if (c.grid_size > 1)
    VRWKV_CHECK(v.grid_side() % c.grid_size == 0, "model.grid_size ", c.grid_size,
                " must divide the patch grid side ", v.grid_side());
  return c;
}

int64_t ModelConfig::image_tokens() const {
  if (grid_size == -1) return vision.num_patches() + 1;  // patches then cls
  if (grid_size == 0) return 1;                          // cls alone
  if (grid_size == 1) return 2;                          // mean of patches, cls
  return grid_size * grid_size + 1;                      // pooled grid, cls
}

namespace {

// max(32, 32 * round(x / 32)) with Python's round (halves to even, as std::nearbyint by default).
int64_t lora_width(double x) { return std::max<int64_t>(32, 32 * static_cast<int64_t>(std::nearbyint(x / 32.0))); }

}  // namespace

Wkv7Kernel wkv7_kernel_from_string(const std::string& name, const std::string& where) {
  if (name == "recurrent") return Wkv7Kernel::kRecurrent;
  if (name == "chunked") return Wkv7Kernel::kChunked;
  throw Error(cat(where, ": wkv_kernel must be \"recurrent\" or \"chunked\", got \"", name, "\""));
}

std::string to_string(Wkv7Kernel kernel) { return kernel == Wkv7Kernel::kChunked ? "chunked" : "recurrent"; }

Rwkv7Config Rwkv7Config::resolved() const {
  Rwkv7Config c = *this;
  VRWKV_CHECK(c.n_layer > 0, "model.n_layer must be positive, got ", c.n_layer);
  VRWKV_CHECK(c.n_embd > 0, "model.n_embd must be positive, got ", c.n_embd);
  VRWKV_CHECK(c.head_size > 0 && c.n_embd % c.head_size == 0, "model.n_embd (", c.n_embd,
              ") must be a multiple of model.head_size (", c.head_size, ")");
  VRWKV_CHECK(c.vocab_size > 0, "model.vocab_size must be positive");
  const double C = double(c.n_embd);
  if (c.d_decay == 0) c.d_decay = lora_width(1.8 * std::sqrt(C));
  if (c.d_aaa == 0) c.d_aaa = lora_width(1.8 * std::sqrt(C));
  if (c.d_mv == 0) c.d_mv = lora_width(1.3 * std::sqrt(C));
  if (c.d_gate == 0) c.d_gate = lora_width(0.6 * std::pow(C, 0.8));
  for (auto [name, width] : {std::pair{"d_decay", c.d_decay}, {"d_aaa", c.d_aaa}, {"d_mv", c.d_mv}, {"d_gate", c.d_gate}})
    VRWKV_CHECK(width > 0, "model.", name, " must be positive, got ", width);
  return c;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where) {
  VRWKV_CHECK(j.is_object(), where, ": model config must be a JSON object");
  ModelConfig c;
  read_json_field(j, "n_layer", c.n_layer, where);
  read_json_field(j, "n_embd", c.n_embd, where);
  read_json_field(j, "dim_att", c.dim_att, where);
  read_json_field(j, "dim_ffn", c.dim_ffn, where);
  read_json_field(j, "head_size", c.head_size, where);
  read_json_field(j, "vocab_size", c.vocab_size, where);
  read_json_field(j, "d_mix", c.d_mix, where);
  read_json_field(j, "d_decay", c.d_decay, where);
  read_json_field(j, "grid_size", c.grid_size, where);
  if (j.contains("vision")) {
    const auto& v = j.at("vision");
    const std::string vwhere = where + ": vision";
    read_json_field(v, "hidden_size", c.vision.hidden_size, vwhere);
    read_json_field(v, "intermediate_size", c.vision.intermediate_size, vwhere);
    read_json_field(v, "num_hidden_layers", c.vision.num_hidden_layers, vwhere);
    read_json_field(v, "num_attention_heads", c.vision.num_attention_heads, vwhere);
    read_json_field(v, "image_size", c.vision.image_size, vwhere);
    read_json_field(v, "patch_size", c.vision.patch_size, vwhere);
    read_json_field(v, "layer_norm_eps", c.vision.layer_norm_eps, vwhere);
  }
  try {
    return c.resolved();
  } catch (const Error& e) {
    throw Error(cat(where, ": ", e.what()));
  }
}

}  // namespace vrwkv
