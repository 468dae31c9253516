// The chunk-to-chunk state recurrence; see state_scan_kernels.cuh for the interface.
//
// S's rows are independent (row i of S M depends on row i of S only), so each block owns kRows rows of
// one batch entry's S, in shared memory, and walks the chunks one after the other: per chunk it loads
// M (transposed on the way in when asked) into shared memory, writes its rows of S out, and replaces
// them by S M + X. kThreads threads: thread t owns row t / 16 and the four columns t % 16 + 16 q.
// Rows of shared memory are padded to 65 floats so that reading a column (and the transposed store)
// does not hit one bank 64 times.
#include "state_scan_kernels.cuh"

#include <cstdint>

namespace vrwkv {
namespace {

constexpr int kN = static_cast<int>(kStateScanSize);
constexpr int kRows = 16;
constexpr int kThreads = 256;
constexpr int kPad = kN + 1;
constexpr int kColumnsPerThread = kN / (kThreads / kRows);  // 4

__global__ void __launch_bounds__(kThreads)
    state_scan_kernel(const float* __restrict__ M, const float* __restrict__ X, const float* __restrict__ state_in,
                      float* __restrict__ out, float* __restrict__ state_out, int count, int batch, bool reverse,
                      bool transpose) {
  __shared__ float sM[kN * kPad];
  __shared__ float sS[kRows * kPad];
  const int b = blockIdx.x, row0 = blockIdx.y * kRows, tid = threadIdx.x;
  const int my_row = tid / (kThreads / kRows), my_col = tid % (kThreads / kRows);
  const size_t matrix = size_t(kN) * kN;

  for (int e = tid; e < kRows * kN; e += kThreads) {
    const int i = e / kN, j = e % kN;
    sS[i * kPad + j] = state_in ? state_in[b * matrix + (row0 + i) * kN + j] : 0.f;
  }
  __syncthreads();

  for (int step = 0; step < count; ++step) {
    const int c = reverse ? count - 1 - step : step;
    const size_t base = (size_t(c) * batch + b) * matrix;
    for (int e = tid; e < kN * kN; e += kThreads) {  // coalesced reads; transposed or not into shared
      const int i = e / kN, j = e % kN;
      const float m = M[base + e];
      if (transpose) sM[j * kPad + i] = m;
      else sM[i * kPad + j] = m;
    }
    for (int e = tid; e < kRows * kN; e += kThreads) {
      const int i = e / kN, j = e % kN;
      out[base + (row0 + i) * kN + j] = sS[i * kPad + j];
    }
    __syncthreads();
    float acc[kColumnsPerThread];
#pragma unroll
    for (int q = 0; q < kColumnsPerThread; ++q)
      acc[q] = X[base + (row0 + my_row) * kN + my_col + q * (kThreads / kRows)];
    for (int a = 0; a < kN; ++a) {
      const float s = sS[my_row * kPad + a];
#pragma unroll
      for (int q = 0; q < kColumnsPerThread; ++q) acc[q] += s * sM[a * kPad + my_col + q * (kThreads / kRows)];
    }
    __syncthreads();  // every thread has read the old rows before any is replaced
#pragma unroll
    for (int q = 0; q < kColumnsPerThread; ++q) sS[my_row * kPad + my_col + q * (kThreads / kRows)] = acc[q];
    __syncthreads();
  }
  if (state_out) {
    for (int e = tid; e < kRows * kN; e += kThreads) {
      const int i = e / kN, j = e % kN;
      state_out[b * matrix + (row0 + i) * kN + j] = sS[i * kPad + j];
    }
  }
}

}  // namespace

cudaError_t state_scan_cuda(const float* M, const float* X, const float* state_in, float* out, float* state_out,
                            int64_t count, int64_t batch, bool reverse, bool transpose, cudaStream_t stream) {
  if (count < 1 || batch < 1 || count > INT32_MAX || batch > INT32_MAX) return cudaErrorInvalidValue;
  const dim3 blocks(unsigned(batch), unsigned(kN / kRows));
  state_scan_kernel<<<blocks, kThreads, 0, stream>>>(M, X, state_in, out, state_out, int(count), int(batch), reverse,
                                                     transpose);
  return cudaGetLastError();
}

}  // namespace vrwkv
