// Four independent multiply-rotate lanes over 8-byte words, so the CPU overlaps the multiplications
// (several GB/s: hashing a 1B6 model's frozen tensors costs about a second at set-up), then a
// finaliser that spreads every input bit over the whole result.
#include "io/tensor_hash.h"

#include <cstdio>
#include <cstring>

#include "base/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor_hash reads the bytes as little-endian words"
#endif

namespace vrwkv::io {
namespace {

constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;   // odd: the multiplication is invertible
constexpr uint64_t kMul2 = 0xd6e8feb86659fd93ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t word_at(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

inline uint64_t mix_in(uint64_t lane, uint64_t word) { return rotl((lane ^ word) * kMul, 29) + word; }

inline uint64_t finish(uint64_t x) {
  x ^= x >> 32;
  x *= kMul2;
  x ^= x >> 29;
  x *= kMul;
  return x ^ (x >> 32);
}

uint64_t hash_bytes(const unsigned char* data, uint64_t size) {
  uint64_t lane[4] = {kMul, kMul2, ~kMul, ~kMul2};
  uint64_t i = 0;
  for (; i + 32 <= size; i += 32)
    for (int k = 0; k < 4; ++k) lane[k] = mix_in(lane[k], word_at(data + i + 8 * k));
  for (int k = 0; i + 8 <= size; i += 8, ++k) lane[k] = mix_in(lane[k], word_at(data + i));
  uint64_t tail = 0;
  if (i < size) {
    std::memcpy(&tail, data + i, size - i);  // the last 1..7 bytes, zero-padded
    lane[3] = mix_in(lane[3], tail);
  }
  uint64_t h = size * kMul2;  // the length, so zero-padding never hides a trailing zero byte
  for (int k = 0; k < 4; ++k) h = finish(h ^ lane[k]);
  return h;
}

}  // namespace

uint64_t tensor_hash(const torch::Tensor& tensor) {
  const auto t = tensor.detach().to(torch::kCPU).contiguous();
  return hash_bytes(static_cast<const unsigned char*>(t.data_ptr()),
                    static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(t.element_size()));
}

std::string hash_text(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

uint64_t hash_from_text(const std::string& text, const std::string& where) {
  VRWKV_CHECK(text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos, where,
              ": a hash is 16 lowercase hex digits, got '", text, "'");
  return std::stoull(text, nullptr, 16);
}

}  // namespace vrwkv::io
