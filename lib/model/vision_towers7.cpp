#include "model/vision_towers7.h"

#include <optional>

#include "base/error.h"

namespace vrwkv {

void VisionTowers7Config::validate() const {
  const int64_t side = dino.grid_side();
  VRWKV_CHECK(siglip.grid_side() == side, "vision towers: siglip's grid is ", siglip.grid_side(), "x",
              siglip.grid_side(), " but dino's is ", side, "x", side);
  VRWKV_CHECK(sam.output_side() == side, "vision towers: sam's grid after space-to-depth is ", sam.output_side(),
              "x", sam.output_side(), " but dino's is ", side, "x", side);
}

VisionTowers7Impl::VisionTowers7Impl(const VisionTowers7Config& c) : config(c) {
  c.validate();
  // The original's names (SamDinoSigLIPViTBackbone), so checkpoints hold vit.dino_featurizer.* etc.
  dino = register_module("dino_featurizer", VitTower(c.dino));
  siglip = register_module("siglip_featurizer", VitTower(c.siglip));
  sam = register_module("sam_featurizer", SamEncoder(c.sam));
  for (auto& p : parameters()) p.requires_grad_(false);
  eval();
}

torch::Tensor VisionTowers7Impl::forward(const TowerPixels& pixels) {
  const int64_t n = pixels.dino.size(0);
  VRWKV_CHECK(pixels.siglip.size(0) == n && pixels.sam.size(0) == n, "vision towers: ", n,
              " images for dino but ", pixels.siglip.size(0), " for siglip and ", pixels.sam.size(0), " for sam");
  // Frozen towers (the original's rule) record no graph; only the demo, which starts from random
  // towers, trains them (train.train_vision).
  bool trained = false;
  for (const auto& p : parameters()) trained |= p.requires_grad();
  std::optional<torch::NoGradGuard> frozen;
  if (!trained) frozen.emplace();
  return torch::cat({dino(pixels.dino), siglip(pixels.siglip), sam(pixels.sam)}, 2);
}

}  // namespace vrwkv
