// TFRecord framing, the container of TensorBoard's event files: each record is its length
// (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data, the masked CRC-32C of
// the data.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace vrwkv::io {

// TFRecord's checksum: the CRC rotated and offset, so a CRC over data holding CRCs stays strong.
uint32_t masked_crc32c(const std::string& bytes);

// The framed record of `data`.
std::string tfrecord_frame(const std::string& data);
void write_tfrecord(std::ostream& out, const std::string& data);

struct TFRecords {
  std::vector<std::string> records;  // the data of each whole record, in order
  bool torn = false;                 // the file ended in a partial or corrupt record (dropped)
};

// The records of a file up to the first one that is cut short or fails a checksum: a writer
// killed mid-record leaves such a tail. A file that cannot be opened is a vrwkv::Error.
TFRecords read_tfrecords(const std::string& path);

}  // namespace vrwkv::io
