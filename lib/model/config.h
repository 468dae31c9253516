// Sizes of a VisualRWKV model: the RWKV-6 language model, the CLIP vision tower, the projector; the
// RWKV-7 language model of v7.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace vrwkv {

struct VisionConfig {
  int64_t hidden_size = 1024;
  int64_t intermediate_size = 4096;
  int64_t num_hidden_layers = 24;
  int64_t num_attention_heads = 16;
  int64_t image_size = 336;
  int64_t patch_size = 14;
  double layer_norm_eps = 1e-5;

  int64_t grid_side() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid_side() * grid_side(); }
};

struct ModelConfig {
  int64_t n_layer = 24;
  int64_t n_embd = 2048;
  int64_t dim_att = 0;   // 0: n_embd
  int64_t dim_ffn = 0;   // 0: floor(n_embd * 3.5 / 32) * 32
  int64_t head_size = 64;
  int64_t vocab_size = 65536;
  int64_t d_mix = 0;     // LoRA width of ddlerp; 0: 32, or 64 when n_embd >= 4096
  int64_t d_decay = 0;   // LoRA width of the decay; 0: 64, or 128 when n_embd >= 4096
  int64_t grid_size = -1;  // image token pooling: -1, 0, 1 or g > 1 (SPEC section 4)
  VisionConfig vision;

  // Fills the derived sizes and checks consistency; throws vrwkv::Error naming the field.
  ModelConfig resolved() const;
  int64_t n_head() const { return dim_att / head_size; }
  // Number of image embeddings K that one image becomes after grid pooling.
  int64_t image_tokens() const;
};

// How RWKV-7 computes WKV7: the per-step kernel (model/wkv7.h, the original's formulation: snapshots
// every 16 steps for the backward) or 16-step chunks of matrix products (model/wkv7_chunked.h).
enum class Wkv7Kernel { kRecurrent, kChunked };
Wkv7Kernel wkv7_kernel_from_string(const std::string& name, const std::string& where);
std::string to_string(Wkv7Kernel kernel);

// Sizes of an RWKV-7 (x070) language model (SPEC-v7 section 1). The LoRA widths default to the
// original's formulas (Python's round, halves to even), so a World file of any size loads strictly.
struct Rwkv7Config {
  int64_t n_layer = 12;
  int64_t n_embd = 768;
  int64_t head_size = 64;  // the original's kernel is built for 64; the CPU kernel takes any size
  int64_t vocab_size = 65536;
  int64_t d_decay = 0;  // D_w: 0 = max(32, 32 * round(1.8 * sqrt(C) / 32))
  int64_t d_aaa = 0;    // D_a (in-context learning rate): 0 = the same formula as D_w
  int64_t d_mv = 0;     // D_v (value residual): 0 = max(32, 32 * round(1.3 * sqrt(C) / 32))
  int64_t d_gate = 0;   // D_g: 0 = max(32, 32 * round(0.6 * C^0.8 / 32))
  Wkv7Kernel wkv_kernel = Wkv7Kernel::kRecurrent;  // the same numbers either way, to rounding

  // Fills the LoRA widths and checks consistency; throws vrwkv::Error naming the field.
  Rwkv7Config resolved() const;
  int64_t n_head() const { return n_embd / head_size; }
  int64_t dim_ffn() const { return 4 * n_embd; }  // fixed in RWKV_CMix_x070
};

// Reads the fields present in `j` (the layout of fixtures' model.json); `where` names the source in errors.
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace vrwkv
