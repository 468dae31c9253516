#include "io/tfrecord.h"

#include <fstream>
#include <iterator>

#include "base/error.h"
#include "io/crc32c.h"

namespace vrwkv::io {
namespace {

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xFF));
}

uint64_t get_le(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t masked_crc32c(const std::string& bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& data) {
  std::string length;
  put_le(length, data.size(), 8);
  std::string out = length;
  put_le(out, masked_crc32c(length), 4);
  out += data;
  put_le(out, masked_crc32c(data), 4);
  return out;
}

void write_tfrecord(std::ostream& out, const std::string& data) {
  const auto framed = tfrecord_frame(data);
  out.write(framed.data(), std::streamsize(framed.size()));
}

TFRecords read_tfrecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VRWKV_CHECK(in.good(), path, ": cannot open the record file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TFRecords out;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12 || get_le(bytes, at + 8, 4) != masked_crc32c(bytes.substr(at, 8))) break;
    const uint64_t length = get_le(bytes, at, 8);
    if (length > bytes.size() - at - 12 || bytes.size() - at - 12 - length < 4) break;
    std::string data = bytes.substr(at + 12, length);
    if (get_le(bytes, at + 12 + length, 4) != masked_crc32c(data)) break;
    out.records.push_back(std::move(data));
    at += 16 + length;
  }
  out.torn = at < bytes.size();
  return out;
}

}  // namespace vrwkv::io
