// Image decoding to 8-bit RGB, reproducing what the original gets from PIL's
// Image.open(path).convert("RGB"), on top of OpenCV's decoders.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vrwkv::data {

// An 8-bit RGB image, HxWx3, row-major, no padding between rows.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

// Reads and decodes `path`. Throws vrwkv::Error naming the file when it is missing, unreadable,
// empty, truncated, not an image OpenCV can decode, or of zero size.
RgbImage decode_image(const std::string& path);

// Decodes an encoded image held in memory; `name_for_errors` is what error messages call it.
//
// Conversion to RGB follows PIL's convert("RGB") on what PIL would have opened:
//  - no EXIF orientation is applied (the original does not call ImageOps.exif_transpose);
//  - 8-bit grayscale: the value is replicated into R, G and B;
//  - an alpha channel (RGBA, LA, palette with transparency) is dropped, not composited;
//  - 16-bit grayscale (PIL mode I;16): each value is clamped to 0..255, not scaled;
//  - 16-bit colour or grey+alpha (PIL opens these as 8-bit RGB/RGBA/LA): the high byte, v >> 8;
//  - palette images arrive from OpenCV already expanded to colour.
// Other sample depths (float HDR/EXR, 32-bit) are rejected with vrwkv::Error.
// A JPEG whose data stops before its end-of-image marker is rejected as truncated, as PIL does
// (libjpeg on its own would only warn and fill the missing rows with grey).
RgbImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name_for_errors);

}  // namespace vrwkv::data
