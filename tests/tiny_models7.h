// Small v7 models for tests: an RWKV-7 with every LoRA width distinct, three towers on one 3x3 grid,
// and random parameters that leave no term (a zero LoRA factor, a unit gain) hiding a path.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "model/config.h"
#include "model/rwkv7.h"
#include "model/sam_encoder.h"
#include "model/vision_towers7.h"
#include "model/vit_tower.h"

namespace vrwkv::test {

inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

inline Rwkv7Config small_rwkv7_config() {
  Rwkv7Config c;
  c.n_layer = 3;
  c.n_embd = 32;
  c.head_size = 8;
  c.vocab_size = 300;  // holds the pad id 261
  c.d_decay = 8;
  c.d_aaa = 6;
  c.d_mv = 4;
  c.d_gate = 10;
  return c;
}

// Random RWKV-7 parameters: the original's init leaves w1, a1, v1, g1, output and ffn.value at zero,
// which would hide whole paths from a comparison. `prefix` is where the LM sits ("" or "rwkv.").
inline void randomize_rwkv7(torch::nn::Module& model, uint64_t seed, const std::string& prefix = "") {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    const auto& name = item.key();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    auto& p = item.value();
    if (name == prefix + "emb.weight") {
      p.copy_(torch::randn_like(p));
    } else if (p.dim() == 2) {
      // Linear weights are [out, in], LoRA factors [in, out]: scale by the input width.
      const bool linear = ends_with(name, ".weight");
      const double fan_in = double(linear ? p.size(1) : p.size(0));
      p.copy_(torch::randn_like(p) / std::sqrt(fan_in));
    } else if (ends_with(name, "ln0.weight") || ends_with(name, "ln1.weight") || ends_with(name, "ln2.weight") ||
               ends_with(name, "ln_out.weight") || ends_with(name, "ln_x.weight")) {
      p.copy_(1.0 + 0.2 * torch::randn_like(p));
    } else {
      p.copy_(0.5 * torch::randn_like(p));
    }
  }
}

// Every parameter drawn from U(-0.5, 0.5).
inline void randomise_uniform(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.uniform_(-0.5, 0.5);
}

inline VitTowerConfig tiny_dino(int64_t image = 8) {
  VitTowerConfig c;
  c.name = "dino";
  c.width = 8, c.depth = 4, c.heads = 2, c.mlp_width = 12, c.patch = 2, c.image_size = image;
  c.class_token = true, c.register_tokens = 2, c.layer_scale = true;
  return c;
}

inline VitTowerConfig tiny_siglip(int64_t image = 8, int64_t patch = 2) {
  VitTowerConfig c;
  c.name = "siglip";
  c.width = 6, c.depth = 3, c.heads = 3, c.mlp_width = 10, c.patch = patch, c.image_size = image;
  c.class_token = false, c.register_tokens = 0, c.layer_scale = false;
  return c;
}

inline SamEncoderConfig tiny_sam(int64_t image = 12) {
  SamEncoderConfig c;
  c.width = 8, c.depth = 3, c.heads = 2, c.mlp_width = 12, c.patch = 2, c.image_size = image;
  c.window = 4;  // the 6x6 map pads to 8x8: padded keys take part
  c.global_blocks = {1};
  c.neck_channels = 4;
  return c;
}

// Three towers on one 3x3 grid: DINOv2 6/2, SigLIP 9/3, SAM 12/2 = 6 -> 3 after space-to-depth;
// 8 + 6 + 16 = 30 channels.
inline VisionTowers7Config tiny_towers() {
  VisionTowers7Config c;
  c.dino = tiny_dino(6);
  c.siglip = tiny_siglip(9, 3);
  c.sam = tiny_sam(12);
  return c;
}

}  // namespace vrwkv::test
