#include <filesystem>

#include "clip_preprocess.h"
#include "image_decode.h"
#include "image_source.h"
#include "tower_preprocess7.h"

namespace vrwkv::data {

namespace {

ImageTransform transform_of(const ImageConfig& config) {
  ImageTransform t;
  t.size = static_cast<int>(config.size);
  t.mean = config.mean;
  t.std = config.std;
  t.aspect = config.aspect == "pad" ? ImageTransform::Aspect::kPad : ImageTransform::Aspect::kCrop;
  return t;
}

}  // namespace

ImageBytesLoader make_image_bytes_decoder(const ImageConfig& config) {
  return [t = transform_of(config)](const std::string& bytes, const std::string& name) {
    const std::vector<uint8_t> data(bytes.begin(), bytes.end());
    return preprocess(decode_image_bytes(data, name), t);
  };
}

ImageLoader make_image_decoder(const ImageConfig& config) {
  return [t = transform_of(config)](const std::string& path) {
    if (!std::filesystem::exists(path)) throw text::SampleError("missing_image", cat("image file not found: ", path));
    try {
      return load_and_preprocess(path, t);
    } catch (const Error& e) {
      throw text::SampleError("bad_image", e.what());
    }
  };
}

TowerImageLoader make_tower_image_decoder7(const TowerTransforms7& transforms) {
  return [transforms](const std::string& path) {
    if (!std::filesystem::exists(path)) throw text::SampleError("missing_image", cat("image file not found: ", path));
    try {
      return preprocess_towers7(decode_image(path), transforms);
    } catch (const Error& e) {
      throw text::SampleError("bad_image", e.what());
    }
  };
}

TowerImageBytesLoader make_tower_image_bytes_decoder7(const TowerTransforms7& transforms) {
  return [transforms](const std::string& bytes, const std::string& name) {
    const std::vector<uint8_t> data(bytes.begin(), bytes.end());
    return preprocess_towers7(decode_image_bytes(data, name), transforms);
  };
}

}  // namespace vrwkv::data
