// TensorBoard's Event message, encoded by hand as protobuf wire format (only the fields we use:
// Event {double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5},
// Summary {repeated Value value = 1}, Value {string tag = 1; float simple_value = 2}), so the
// trainer needs no protobuf library.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vrwkv::train {

struct TensorBoardEvent {
  double wall_time = 0;   // seconds since the epoch
  int64_t step = 0;
  std::string file_version;  // set only on a file's first event
  std::vector<std::pair<std::string, float>> scalars;  // (tag, simple_value)
};

std::string encode_event(const TensorBoardEvent& event);
// The fields above of an encoded Event (others are skipped); malformed bytes are a vrwkv::Error
// naming `source`.
TensorBoardEvent decode_event(const std::string& bytes, const std::string& source);

}  // namespace vrwkv::train
