#include "image_decode.h"

#include "base/error.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace vrwkv::data {
namespace {

bool is_jpeg(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// True when a JPEG stream reaches its end-of-image marker after its first scan. libjpeg only
// warns about a premature end and pads with grey, while PIL (LOAD_TRUNCATED_IMAGES = False)
// raises "image file is truncated", so we look for the marker ourselves. Marker segments before
// the first scan are skipped by length (an EXIF thumbnail there carries its own FFD9); inside
// entropy-coded data a 0xFF byte is always stuffed or starts a marker, so FF D9 there is EOI.
bool jpeg_reaches_eoi(const std::vector<uint8_t>& b) {
  size_t pos = 2;  // after SOI
  const size_t n = b.size();
  while (pos < n) {
    if (b[pos] != 0xFF) {  // stray bytes between segments: libjpeg skips them with a warning
      ++pos;
      continue;
    }
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return false;
    const uint8_t marker = b[pos++];
    if (marker == 0xD9) return false;  // EOI before any scan: no image data at all
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length field
    if (pos + 2 > n) return false;
    const size_t len = (size_t(b[pos]) << 8) | b[pos + 1];
    if (len < 2 || pos + len > n) return false;
    pos += len;
    if (marker == 0xDA) {  // start of scan: the rest is scans and tables up to EOI
      for (size_t i = pos; i + 1 < n; ++i)
        if (b[i] == 0xFF && b[i + 1] == 0xD9) return true;
      return false;
    }
  }
  return false;
}

// cv::Mat (as IMREAD_UNCHANGED gives it: 1 to 4 channels, 8 or 16 bits, BGR order) -> RGB,
// following PIL's convert("RGB") on the mode PIL would have opened the file in.
RgbImage to_rgb(const cv::Mat& m, const std::string& name) {
  RgbImage out;
  out.width = m.cols;
  out.height = m.rows;
  out.pixels.resize(size_t(m.cols) * m.rows * 3);
  const int ch = m.channels();
  VRWKV_CHECK(ch >= 1 && ch <= 4, "image ", name, ": unsupported channel count ", ch);

  if (m.depth() == CV_8U) {
    cv::Mat dst(m.rows, m.cols, CV_8UC3, out.pixels.data());
    switch (ch) {
      case 1: cv::cvtColor(m, dst, cv::COLOR_GRAY2RGB); break;  // L -> replicate
      case 3: cv::cvtColor(m, dst, cv::COLOR_BGR2RGB); break;
      case 4: cv::cvtColor(m, dst, cv::COLOR_BGRA2RGB); break;  // alpha dropped, not composited
      default:  // grey + alpha: keep the grey
        for (int y = 0; y < m.rows; ++y) {
          const uint8_t* s = m.ptr<uint8_t>(y);
          uint8_t* d = out.row(y);
          for (int x = 0; x < m.cols; ++x) d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[2 * x];
        }
    }
    VRWKV_CHECK(dst.data == out.pixels.data(), "image ", name, ": internal colour conversion error");
    return out;
  }

  VRWKV_CHECK(m.depth() == CV_16U, "image ", name, ": unsupported sample depth (OpenCV depth ",
              m.depth(), "); only 8- and 16-bit images are supported");
  for (int y = 0; y < m.rows; ++y) {
    const uint16_t* s = m.ptr<uint16_t>(y);
    uint8_t* d = out.row(y);
    if (ch == 1) {
      // PIL: mode I;16 -> RGB clamps each value to 0..255 (no scaling).
      for (int x = 0; x < m.cols; ++x)
        d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = uint8_t(std::min<uint16_t>(s[x], 255));
    } else if (ch == 2) {
      // PIL opens 16-bit grey+alpha as LA from the high bytes.
      for (int x = 0; x < m.cols; ++x)
        d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = uint8_t(s[2 * x] >> 8);
    } else {
      // PIL opens 16-bit RGB(A) as 8-bit RGB(A) from the high bytes; OpenCV gives BGR(A).
      for (int x = 0; x < m.cols; ++x) {
        const uint16_t* p = s + size_t(x) * ch;
        d[3 * x] = uint8_t(p[2] >> 8);
        d[3 * x + 1] = uint8_t(p[1] >> 8);
        d[3 * x + 2] = uint8_t(p[0] >> 8);
      }
    }
  }
  return out;
}

}  // namespace

RgbImage decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name) {
  VRWKV_CHECK(!bytes.empty(), "image ", name, ": empty file");
  cv::Mat decoded;
  try {
    const cv::Mat buf(1, int(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
    // IMREAD_UNCHANGED keeps the depth, channels and alpha, and never applies EXIF orientation
    // (the original does not either); OR-ing IMREAD_IGNORE_ORIENTATION into -1 would be a no-op.
    decoded = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(cat("image ", name, ": cannot decode: ", e.what()));
  }
  VRWKV_CHECK(!decoded.empty(), "image ", name,
              ": cannot decode (not an image, an unsupported format, or corrupt/truncated data)");
  VRWKV_CHECK(decoded.cols > 0 && decoded.rows > 0, "image ", name, ": zero-size image (",
              decoded.cols, "x", decoded.rows, ")");
  VRWKV_CHECK(!is_jpeg(bytes) || jpeg_reaches_eoi(bytes), "image ", name,
              ": truncated JPEG data (no end-of-image marker)");
  return to_rgb(decoded, name);
}

RgbImage decode_image(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  VRWKV_CHECK(fs::exists(path, ec), "image ", path, ": no such file");
  VRWKV_CHECK(fs::is_regular_file(path, ec), "image ", path, ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.is_open(), "image ", path, ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  VRWKV_CHECK(size >= 0, "image ", path, ": cannot determine the file size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  VRWKV_CHECK(in.good() || size == 0, "image ", path, ": read error");
  return decode_image_bytes(bytes, path);
}

}  // namespace vrwkv::data
