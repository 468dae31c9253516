#include "model/state_scan.h"

#include <vector>

#include "base/build_config.h"
#include "base/error.h"
#if VRWKV_WITH_CUDA
#include "model/cuda/state_scan_cuda.h"
#include "model/cuda/state_scan_kernels.cuh"
#endif

namespace vrwkv {
namespace {

// out[c] = S; S = S op(M[c]) + X[c], c in order or reversed; returns {out, the last S}. No autograd.
std::pair<torch::Tensor, torch::Tensor> scan(const torch::Tensor& M, const torch::Tensor& X, const torch::Tensor& S0,
                                             bool reverse, bool transpose) {
#if VRWKV_WITH_CUDA
  if (M.is_cuda() && M.scalar_type() == torch::kFloat32 && M.size(-1) == kStateScanSize)
    return state_scan_cuda_run(M, X, S0, reverse, transpose);
#endif
  const int64_t count = M.size(0);
  std::vector<torch::Tensor> out(count);
  auto S = S0;
  for (int64_t step = 0; step < count; ++step) {
    const int64_t c = reverse ? count - 1 - step : step;
    out[c] = S;
    S = torch::baddbmm(X[c], S, transpose ? M[c].transpose(1, 2) : M[c]);
  }
  return {torch::stack(out, 0), S};
}

class StateScanFunction : public torch::autograd::Function<StateScanFunction> {
 public:
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& A,
                                              const torch::Tensor& H, const torch::Tensor& S0) {
    auto [starts, last] = scan(A, H, S0, /*reverse=*/false, /*transpose=*/false);
    ctx->save_for_backward({A, starts});
    return {starts, last};
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &A = saved[0], &starts = saved[1];
    const auto d_starts = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(starts);
    const auto d_last = grads[1].defined() ? grads[1].contiguous() : torch::zeros_like(starts[0]);
    auto [dH, dS0] = scan(A, d_starts, d_last, /*reverse=*/true, /*transpose=*/true);
    auto dA = torch::matmul(starts.transpose(-1, -2), dH);
    return {dA, dH, dS0};
  }
};

}  // namespace

std::pair<torch::Tensor, torch::Tensor> chunk_state_scan(const torch::Tensor& A, const torch::Tensor& H,
                                                         const torch::Tensor& S0) {
  VRWKV_CHECK(A.dim() == 4 && A.size(2) == A.size(3), "chunk_state_scan: A must be [count, batch, N, N], got ",
              A.sizes());
  VRWKV_CHECK(A.size(0) >= 1, "chunk_state_scan: no chunks to scan");
  VRWKV_CHECK(H.sizes() == A.sizes(), "chunk_state_scan: H ", H.sizes(), " must match A ", A.sizes());
  VRWKV_CHECK(S0.sizes() == A.sizes().slice(1), "chunk_state_scan: the state must be ", A.sizes().slice(1),
              ", got ", S0.sizes());
  for (const auto* t : {&H, &S0}) {
    VRWKV_CHECK(t->device() == A.device() && t->scalar_type() == A.scalar_type(), "chunk_state_scan: A is ",
                A.scalar_type(), " on ", A.device(), ", another input ", t->scalar_type(), " on ", t->device());
  }
  auto out = StateScanFunction::apply(A.contiguous(), H.contiguous(), S0.contiguous());
  return {out[0], out[1]};
}

}  // namespace vrwkv
