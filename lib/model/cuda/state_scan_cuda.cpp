#include "model/cuda/state_scan_cuda.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "base/error.h"
#include "model/cuda/state_scan_kernels.cuh"
#include "model/cuda/tensor_pointers.h"

namespace vrwkv {

std::pair<torch::Tensor, torch::Tensor> state_scan_cuda_run(const torch::Tensor& M, const torch::Tensor& X,
                                                            const torch::Tensor& state_in, bool reverse,
                                                            bool transpose) {
  const char* op = "state_scan_cuda";
  const int64_t n = kStateScanSize;
  VRWKV_CHECK(M.dim() == 4 && M.size(2) == n && M.size(3) == n, op, ": M must be [count, batch, ", n, ", ", n,
              "], got ", M.sizes());
  VRWKV_CHECK(M.size(0) >= 1, op, ": no steps to scan");
  VRWKV_CHECK(X.sizes() == M.sizes(), op, ": X ", X.sizes(), " must match M ", M.sizes());
  VRWKV_CHECK(state_in.sizes() == M.sizes().slice(1), op, ": the state must be ", M.sizes().slice(1), ", got ",
              state_in.sizes());
  for (const auto* t : {&M, &X, &state_in}) {
    VRWKV_CHECK(t->is_cuda() && t->device() == M.device(), op, ": every tensor must be on ", M.device(), ", got ",
                t->device());
    VRWKV_CHECK(t->scalar_type() == torch::kFloat32, op, ": float32 only, got ", t->scalar_type());
  }
  const c10::cuda::CUDAGuard device_guard(M.device());
  const auto m = M.contiguous(), x = X.contiguous(), s = state_in.contiguous();
  auto out = torch::empty_like(m);
  auto last = torch::empty_like(s);
  cuda_glue::check_cuda(state_scan_cuda(cuda_glue::in_ptr<float>(m), cuda_glue::in_ptr<float>(x),
                                        cuda_glue::in_ptr<float>(s), cuda_glue::out_ptr<float>(out),
                                        cuda_glue::out_ptr<float>(last), m.size(0), m.size(1), reverse, transpose,
                                        c10::cuda::getCurrentCUDAStream()),
                        op);
  return {out, last};
}

}  // namespace vrwkv
