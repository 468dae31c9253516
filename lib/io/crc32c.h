// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum TFRecord files carry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vrwkv::io {

// The CRC-32C of `size` bytes; `crc` continues an earlier one (0 starts afresh).
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
inline uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

}  // namespace vrwkv::io
