#include "model/config7.h"

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_field.h"
#include "model/image_pool7.h"

namespace vrwkv {
namespace {

// The keys both kinds of tower have.
template <class Tower>
void read_tower(const nlohmann::json& j, Tower& c, const std::string& where) {
  read_json_field(j, "width", c.width, where);
  read_json_field(j, "depth", c.depth, where);
  read_json_field(j, "heads", c.heads, where);
  read_json_field(j, "mlp_width", c.mlp_width, where);
  read_json_field(j, "patch", c.patch, where);
  read_json_field(j, "image_size", c.image_size, where);
  VRWKV_CHECK(c.width % c.heads == 0, where, ".width ", c.width, " is not divisible by heads ", c.heads);
  VRWKV_CHECK(c.image_size % c.patch == 0, where, ".image_size ", c.image_size, " is not a multiple of patch ",
              c.patch);
}

void read_vit(const nlohmann::json& j, VitTowerConfig& c, const std::string& where) {
  read_tower(j, c, where);
  read_json_field(j, "register_tokens", c.register_tokens, where);
  VRWKV_CHECK(c.depth >= 2, where, ".depth must be >= 2 (the output is the block two from the end)");
}

void read_sam(const nlohmann::json& j, SamEncoderConfig& c, const std::string& where) {
  read_tower(j, c, where);
  read_json_field(j, "window", c.window, where);
  read_json_field(j, "neck_channels", c.neck_channels, where);
  int64_t every = 3;
  read_json_field(j, "global_attn_every", every, where);
  VRWKV_CHECK(every >= 1, where, ".global_attn_every must be >= 1");
  c.global_blocks.clear();
  for (int64_t b = every - 1; b < c.depth; b += every) c.global_blocks.push_back(b);
  VRWKV_CHECK(c.grid_side() % 2 == 0, where, ".image_size / patch must be even (space-to-depth halves the grid)");
}

}  // namespace

std::string to_string(ModelFamily family) { return family == ModelFamily::kV6 ? "v6" : "v7"; }

Projector7 projector7_from_string(const std::string& name, const std::string& where) {
  if (name == "mlp") return Projector7::kGatedMlp;
  if (name == "linear") return Projector7::kLinear;
  throw Error(cat(where, ": projector must be \"mlp\" or \"linear\", got \"", name, "\""));
}

std::string to_string(Projector7 projector) { return projector == Projector7::kGatedMlp ? "mlp" : "linear"; }

VisualRwkv7Config VisualRwkv7Config::resolved() const {
  VisualRwkv7Config c = *this;
  c.rwkv = rwkv.resolved();
  c.towers.validate();
  pooled_side(tokens_per_image, c.towers.dino.grid_side());  // K must be a square that fits the grid
  return c;
}

VisualRwkv7Config visual_rwkv7_config_from_json(const nlohmann::json& j, const std::string& where) {
  VRWKV_CHECK(j.is_object(), where, ": model config must be a JSON object");
  VisualRwkv7Config c;
  read_json_field(j, "n_layer", c.rwkv.n_layer, where);
  read_json_field(j, "n_embd", c.rwkv.n_embd, where);
  read_json_field(j, "head_size", c.rwkv.head_size, where);
  read_json_field(j, "vocab_size", c.rwkv.vocab_size, where);
  read_json_field(j, "d_decay", c.rwkv.d_decay, where);
  read_json_field(j, "d_aaa", c.rwkv.d_aaa, where);
  read_json_field(j, "d_mv", c.rwkv.d_mv, where);
  read_json_field(j, "d_gate", c.rwkv.d_gate, where);
  read_json_field(j, "tokens_per_image", c.tokens_per_image, where);
  std::string kernel = to_string(c.rwkv.wkv_kernel);
  read_json_field(j, "wkv_kernel", kernel, where);
  c.rwkv.wkv_kernel = wkv7_kernel_from_string(kernel, where);
  std::string projector = to_string(c.projector);
  read_json_field(j, "projector", projector, where);
  c.projector = projector7_from_string(projector, where);
  if (j.contains("towers")) {
    const auto& t = j.at("towers");
    if (t.contains("dino")) read_vit(t.at("dino"), c.towers.dino, where + ".towers.dino");
    if (t.contains("siglip")) read_vit(t.at("siglip"), c.towers.siglip, where + ".towers.siglip");
    if (t.contains("sam")) read_sam(t.at("sam"), c.towers.sam, where + ".towers.sam");
  }
  try {
    return c.resolved();
  } catch (const Error& e) {
    throw Error(cat(where, ": ", e.what()));
  }
}

}  // namespace vrwkv
