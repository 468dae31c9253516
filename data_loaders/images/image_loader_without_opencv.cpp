// Builds without OpenCV (the GPU lab) have no image decoder. Text-only samples and synthetic
// pictures train as usual; the first image file asked for stops the job with this error.
#include "image_source.h"

namespace vrwkv::data {

ImageLoader make_image_decoder(const ImageConfig&) {
  return [](const std::string& path) -> torch::Tensor {
    throw Error(cat("cannot read ", path, ": this build has no image decoder (it was configured without OpenCV); ",
                    "use a build with OpenCV, or set data.image.synthetic=true to train on synthetic pictures"));
  };
}

ImageBytesLoader make_image_bytes_decoder(const ImageConfig&) {
  return [](const std::string&, const std::string& name) -> torch::Tensor {
    throw Error(cat("cannot decode the image of ", name, ": this build has no image decoder (it was configured ",
                    "without OpenCV); use a build with OpenCV, or set data.image.synthetic=true"));
  };
}

}  // namespace vrwkv::data
