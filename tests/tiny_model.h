// A tiny VisualRWKV for tests: 4 blocks (every bi / multi block kind), 2 heads of 8, a one-layer
// tower on 28 px images with 14 px patches (2 x 2 patches: a square span for multi).
#pragma once
#include "model/config.h"

namespace vrwkv::test {

inline ModelConfig tiny_model_config() {
  ModelConfig c;
  c.n_layer = 4;
  c.n_embd = 16;
  c.head_size = 8;
  c.vocab_size = 24;
  c.d_mix = 4;
  c.d_decay = 6;
  c.vision.hidden_size = 8;
  c.vision.intermediate_size = 12;
  c.vision.num_hidden_layers = 1;
  c.vision.num_attention_heads = 2;
  c.vision.image_size = 28;
  c.vision.patch_size = 14;
  return c.resolved();
}

}  // namespace vrwkv::test
