#include "train/tensorboard_event.h"

#include <cstring>

#include "base/error.h"

namespace vrwkv::train {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

void put_key(std::string& out, int field, int wire_type) { put_varint(out, uint64_t(field) << 3 | wire_type); }

template <typename T>
void put_fixed(std::string& out, int field, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  put_key(out, field, sizeof(T) == 8 ? kFixed64 : kFixed32);
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));  // little-endian hosts only, as libtorch itself
  out.append(reinterpret_cast<const char*>(raw), sizeof(T));
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// Reads one message's fields in order; every read checks the bounds.
class Reader {
 public:
  Reader(const std::string& bytes, const std::string& source) : bytes_(bytes), source_(source) {}
  bool done() const { return at_ >= bytes_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto b = static_cast<unsigned char>(bytes_[at_++]);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Error(cat(source_, ": malformed event (a varint longer than 10 bytes)"));
  }
  template <typename T>
  T fixed() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  std::string bytes() {
    const uint64_t n = varint();
    need(n);
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  void skip(int wire_type) {
    if (wire_type == kVarint) varint();
    else if (wire_type == kFixed64) fixed<uint64_t>();
    else if (wire_type == kBytes) bytes();
    else if (wire_type == kFixed32) fixed<uint32_t>();
    else throw Error(cat(source_, ": malformed event (wire type ", wire_type, ")"));
  }

 private:
  void need(uint64_t n) const {
    VRWKV_CHECK(n <= bytes_.size() - at_, source_, ": malformed event (a field runs past its end)");
  }
  const std::string& bytes_;
  const std::string& source_;
  size_t at_ = 0;
};

std::pair<std::string, float> decode_value(const std::string& bytes, const std::string& source) {
  std::pair<std::string, float> value{"", 0.0f};
  Reader r(bytes, source);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = int(key >> 3), type = int(key & 7);
    if (field == 1 && type == kBytes) value.first = r.bytes();
    else if (field == 2 && type == kFixed32) value.second = r.fixed<float>();
    else r.skip(type);
  }
  return value;
}

}  // namespace

std::string encode_event(const TensorBoardEvent& event) {
  std::string out;
  put_fixed(out, 1, event.wall_time);
  put_key(out, 2, kVarint);
  put_varint(out, uint64_t(event.step));
  if (!event.file_version.empty()) put_bytes(out, 3, event.file_version);
  if (!event.scalars.empty()) {
    std::string summary;
    for (const auto& [tag, value] : event.scalars) {
      std::string v;
      put_bytes(v, 1, tag);
      put_fixed(v, 2, value);
      put_bytes(summary, 1, v);
    }
    put_bytes(out, 5, summary);
  }
  return out;
}

TensorBoardEvent decode_event(const std::string& bytes, const std::string& source) {
  TensorBoardEvent event;
  Reader r(bytes, source);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = int(key >> 3), type = int(key & 7);
    if (field == 1 && type == kFixed64) {
      event.wall_time = r.fixed<double>();
    } else if (field == 2 && type == kVarint) {
      event.step = int64_t(r.varint());
    } else if (field == 3 && type == kBytes) {
      event.file_version = r.bytes();
    } else if (field == 5 && type == kBytes) {
      const std::string summary = r.bytes();
      Reader s(summary, source);
      while (!s.done()) {
        const uint64_t k = s.varint();
        if ((k >> 3) == 1 && (k & 7) == kBytes) event.scalars.push_back(decode_value(s.bytes(), source));
        else s.skip(int(k & 7));
      }
    } else {
      r.skip(type);
    }
  }
  return event;
}

}  // namespace vrwkv::train
