// Builds without OpenCV (the GPU lab) have no image decoder. Text-only samples and synthetic
// pictures train as usual; the first image file asked for stops the job with this error.
#include "image_source.h"
#include "tower_image_source7.h"

namespace vrwkv::data {
namespace {

Error no_decoder(const std::string& path) {
  return Error(cat("cannot read ", path, ": this build has no image decoder (it was configured without OpenCV); ",
                   "use a build with OpenCV, or set data.image.synthetic=true to train on synthetic pictures"));
}

}  // namespace

ImageLoader make_image_decoder(const ImageConfig&) {
  return [](const std::string& path) -> torch::Tensor { throw no_decoder(path); };
}

ImageBytesLoader make_image_bytes_decoder(const ImageConfig&) {
  return [](const std::string&, const std::string& name) -> torch::Tensor {
    throw Error(cat("cannot decode the image of ", name, ": this build has no image decoder (it was configured ",
                    "without OpenCV); use a build with OpenCV, or set data.image.synthetic=true"));
  };
}

TowerImageLoader make_tower_image_decoder7(const TowerTransforms7&) {
  return [](const std::string& path) -> TowerPixels { throw no_decoder(path); };
}

TowerImageBytesLoader make_tower_image_bytes_decoder7(const TowerTransforms7&) {
  return [](const std::string&, const std::string& name) -> TowerPixels { throw no_decoder(name); };
}

}  // namespace vrwkv::data
