// v7's frozen vision backbone (SPEC-v7 section 5: SamDinoSigLIPViTBackbone): DINOv2, SigLIP and SAM
// each see their own pixels of the same images, and each token's features are concatenated as
// [DINOv2 | SigLIP | SAM] on the shared row-major grid (32x32, 3200 channels at full size).
#pragma once
#include <torch/torch.h>

#include "model/sam_encoder.h"
#include "model/vit_tower.h"

namespace vrwkv {

struct VisionTowers7Config {
  VitTowerConfig dino = dinov2_large_reg4_config();
  VitTowerConfig siglip = siglip_so400m_config();
  SamEncoderConfig sam = sam_vit_b_config();

  // Checks that the three grids agree; throws vrwkv::Error naming the tower that differs.
  void validate() const;
  int64_t tokens() const { return dino.num_patches(); }
  int64_t embed_dim() const { return dino.width + siglip.width + sam.output_channels(); }
};

// One tensor per tower for the same N images, in order (each tower's own size and normalisation).
struct TowerPixels {
  torch::Tensor dino;    // [N, 3, 448, 448]
  torch::Tensor siglip;  // [N, 3, 448, 448]
  torch::Tensor sam;     // [N, 3, 1024, 1024]
};

struct VisionTowers7Impl : torch::nn::Module {
  // The towers are built frozen (requires_grad false): v7 never trains them.
  explicit VisionTowers7Impl(const VisionTowers7Config& config);
  // [N, tokens, embed_dim], one call per tower for all N images; without autograd unless a tower
  // parameter requires grad (only the demo trains them).
  torch::Tensor forward(const TowerPixels& pixels);

  VisionTowers7Config config;
  VitTower dino{nullptr}, siglip{nullptr};  // registered as dino_featurizer, siglip_featurizer
  SamEncoder sam{nullptr};                   // registered as sam_featurizer
};
TORCH_MODULE(VisionTowers7);

}  // namespace vrwkv
