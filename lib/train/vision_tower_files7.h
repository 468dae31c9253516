// Reading v7's three tower checkpoints (SPEC-v7 section 5) into VisionTowers7: the timm DINOv2 file,
// the open_clip SigLIP file (its `visual.trunk.` keys), Meta's SAM file (its `image_encoder.` keys),
// at the paths the original expects under --vision_tower_dir.
#pragma once
#include <map>
#include <string>

#include "io/named_tensors.h"
#include "model/vision_towers7.h"
#include "train/frozen_references.h"

namespace vrwkv::train {

inline constexpr const char* kDinoTowerFile = "timm/vit_large_patch14_reg4_dinov2.lvd142m/pytorch_model.bin";
inline constexpr const char* kSiglipTowerFile = "timm/ViT-SO400M-14-SigLIP-384/open_clip_pytorch_model.bin";
inline constexpr const char* kSamTowerFile = "facebook/sam-vit-base/sam_vit_b_01ec64.pth";

// Our name -> the file's key, for each tensor a tower takes from its file unchanged (renamed only).
using UnchangedKeys = std::map<std::string, std::string>;

// A timm ViT file's tensors under our names (`prefix` + timm name): open_clip's `visual.trunk.` is
// removed (other open_clip keys are not the tower's), the position embedding is resampled to the
// tower's grid, and what the tower never runs (the blocks after the output block, the final norm,
// the pooling heads, a mask token) is left out. `unchanged` (if given) receives every tensor but a
// resampled position embedding.
io::NamedTensors timm_tower_tensors(const io::NamedTensors& file, const VitTowerConfig& tower, const std::string& prefix,
                                    UnchangedKeys* unchanged = nullptr);

// Meta's SAM file's image encoder under our names: `image_encoder.X` -> `prefix` + X; the prompt
// encoder and mask decoder are left out. All of them are unchanged.
io::NamedTensors sam_tower_tensors(const io::NamedTensors& file, const std::string& prefix,
                                   UnchangedKeys* unchanged = nullptr);

// Loads the three files under `dir` into `towers`. Unlike the original (strict=False, mismatches
// only printed), every tower weight must be present with its shape: an error names the file and key.
// Returns where each weight taken unchanged came from (names as in `towers`), so that checkpoints
// refer to the files for them (train/frozen_references.h) instead of storing 0.9B parameters each time.
TensorSources load_vision_towers7(VisionTowers7& towers, const std::string& dir);

}  // namespace vrwkv::train
