// Builds without OpenCV (the GPU lab) have no image decoder: asking for one is a clear error.
#include "image_loader.h"

namespace vrwkv::data {

ImageLoader make_image_loader(const ImageConfig&) {
  throw Error("this build has no image decoder (OpenCV was not found at configure time)");
}

}  // namespace vrwkv::data
