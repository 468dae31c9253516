#include "train/vision_tower_files7.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "base/error.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"

namespace vrwkv::train {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The block index of "blocks.<i>.<rest>", else -1.
int64_t block_of(const std::string& name) {
  if (!starts_with(name, "blocks.")) return -1;
  const auto end = name.find('.', 7);
  return std::stoll(name.substr(7, end - 7));
}

// Parts of a timm ViT file a tower that stops at its output block never uses.
bool unused_by_tower(const std::string& name, const VitTowerConfig& tower) {
  for (const char* head : {"norm.", "fc_norm.", "head.", "attn_pool.", "mask_token"})
    if (starts_with(name, head)) return true;
  return block_of(name) > tower.output_block();
}

void load_tower(VisionTowers7& towers, const std::string& path, const io::NamedTensors& tensors,
                const std::string& prefix, const UnchangedKeys& unchanged, TensorSources& sources) {
  const auto report = io::load_into(*towers, tensors, path, {prefix});
  for (const auto& [name, value] : tensors) {
    const auto key = unchanged.find(name);
    if (key != unchanged.end()) sources[name] = tensor_source(path, key->second, value);
  }
  spdlog::info("loaded the {} tower from {}: {} tensors", prefix.substr(0, prefix.size() - 1), path,
               report.loaded.size());
  if (!report.unexpected.empty())
    spdlog::warn("{}: {} keys not used by the tower (first: {})", path, report.unexpected.size(),
                 report.unexpected.front());
}

}  // namespace

io::NamedTensors timm_tower_tensors(const io::NamedTensors& file, const VitTowerConfig& tower, const std::string& prefix,
                                    UnchangedKeys* unchanged) {
  bool open_clip = false;
  for (const auto& [key, value] : file) open_clip = open_clip || starts_with(key, "visual.trunk.");
  io::NamedTensors out;
  for (const auto& [key, value] : file) {
    if (open_clip && !starts_with(key, "visual.trunk.")) continue;  // text tower, logit scale, ...
    const std::string name = open_clip ? key.substr(13) : key;
    if (unused_by_tower(name, tower)) continue;
    const auto taken = name == "pos_embed" ? resample_position_embedding(value, tower.grid_side()) : value;
    if (unchanged && taken.is_same(value)) (*unchanged)[prefix + name] = key;
    out.emplace_back(prefix + name, taken);
  }
  return out;
}

io::NamedTensors sam_tower_tensors(const io::NamedTensors& file, const std::string& prefix, UnchangedKeys* unchanged) {
  io::NamedTensors out;
  for (const auto& [key, value] : file) {
    if (!starts_with(key, "image_encoder.")) continue;
    out.emplace_back(prefix + key.substr(14), value);
    if (unchanged) (*unchanged)[out.back().first] = key;
  }
  return out;
}

TensorSources load_vision_towers7(VisionTowers7& towers, const std::string& dir) {
  const auto path = [&](const char* file) {
    const auto p = std::filesystem::path(dir) / file;
    VRWKV_CHECK(std::filesystem::exists(p), "vision towers: ", p.string(), " not found (the towers' files are read from ",
                dir, " at the original's paths)");
    return p.string();
  };
  const auto dino = path(kDinoTowerFile), siglip = path(kSiglipTowerFile), sam = path(kSamTowerFile);
  TensorSources sources;
  UnchangedKeys unchanged;
  load_tower(towers, dino,
             timm_tower_tensors(io::load_tensors(dino), towers->config.dino, "dino_featurizer.", &unchanged),
             "dino_featurizer.", unchanged, sources);
  load_tower(towers, siglip,
             timm_tower_tensors(io::load_tensors(siglip), towers->config.siglip, "siglip_featurizer.", &unchanged),
             "siglip_featurizer.", unchanged, sources);
  load_tower(towers, sam, sam_tower_tensors(io::load_tensors(sam), "sam_featurizer.", &unchanged), "sam_featurizer.",
             unchanged, sources);
  return sources;
}

}  // namespace vrwkv::train
