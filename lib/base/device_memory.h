// Peak memory the CUDA caching allocator handed out on the current device (0 in CPU-only builds).
#pragma once
#include <cstdint>

namespace vrwkv {

int64_t cuda_peak_allocated_bytes();
void cuda_reset_peak_memory();

}  // namespace vrwkv
