// CUDA kernel of the chunked WKV7's chunk-to-chunk recurrence (model/state_scan.h):
//   for c in order (or in reverse):  out[c] = S;  S = S op(M[c]) + X[c],  op(M) = M or M^T
// over float32 [count, batch, 64, 64] row-major matrices M, X, out and states [batch, 64, 64].
//
// Plain CUDA, no torch: raw device pointers to contiguous float32 buffers; the matrix size is fixed at
// 64 (kStateScanSize). Enqueued on `stream` without synchronizing; the result is the launch error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace vrwkv {

constexpr int64_t kStateScanSize = 64;

// S starts as state_in (null: zeros) and ends in state_out (may be null); `out` receives S before each
// step. count >= 1 and batch >= 1 (cudaErrorInvalidValue otherwise). reverse: c runs from count - 1 down to 0. transpose: op(M) = M^T.
cudaError_t state_scan_cuda(const float* M, const float* X, const float* state_in, float* out, float* state_out,
                            int64_t count, int64_t batch, bool reverse, bool transpose, cudaStream_t stream);

}  // namespace vrwkv
