#include "tower_image_source7.h"

#include "base/error.h"
#include "image_source.h"

namespace vrwkv::data {

TowerTransforms7 tower_transforms7(const VisionTowers7Config& towers) {
  TowerTransforms7 t;
  t.dino.size = static_cast<int>(towers.dino.image_size);
  t.siglip = SquareTransform{static_cast<int>(towers.siglip.image_size), {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
  t.sam.size = static_cast<int>(towers.sam.image_size);  // DINOv2's interpolation and statistics, not SAM's own
  return t;
}

TowerPixels synthetic_tower_pixels7(const std::string& path, const TowerTransforms7& transforms) {
  auto draw = [&](const SquareTransform& t) {
    ImageConfig config;
    config.size = t.size;
    config.mean = t.mean;
    config.std = t.std;
    return synthetic_image(path, config).unsqueeze(0);
  };
  return {draw(transforms.dino), draw(transforms.siglip), draw(transforms.sam)};
}

TowerImageLoader make_tower_image_loader7(const ImageConfig& image, const TowerTransforms7& transforms) {
  if (image.synthetic)
    return [transforms](const std::string& path) { return synthetic_tower_pixels7(path, transforms); };
  return make_tower_image_decoder7(transforms);
}

TowerImageBytesLoader make_tower_image_bytes_loader7(const ImageConfig& image, const TowerTransforms7& transforms) {
  if (image.synthetic)
    return [transforms](const std::string&, const std::string& name) { return synthetic_tower_pixels7(name, transforms); };
  return make_tower_image_bytes_decoder7(transforms);
}

}  // namespace vrwkv::data
