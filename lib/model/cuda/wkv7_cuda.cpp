// Torch glue of the WKV7 CUDA kernels: checks, layout, dtypes, stream. Compiled only into builds
// whose libtorch has CUDA (lib/model/cuda/CMakeLists.txt adds it when VRWKV_WITH_CUDA is on).
#include "model/cuda/wkv7_cuda.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "base/error.h"
#include "model/cuda/tensor_pointers.h"
#include "model/cuda/wkv7_kernels.cuh"

namespace vrwkv {
namespace {

struct Dims {
  int64_t B, T, H;
};

Dims check_inputs(const char* op, const std::vector<const torch::Tensor*>& in) {
  const auto& r = *in[0];
  for (const auto* t : in) VRWKV_CHECK(t->defined(), op, ": undefined input tensor");
  VRWKV_CHECK(r.dim() == 3 && r.size(2) % kWkv7CudaHeadSize == 0, op, ": r must be [B, T, H * ", kWkv7CudaHeadSize,
              "] (the CUDA kernel supports head size ", kWkv7CudaHeadSize, " only), got ", r.sizes());
  VRWKV_CHECK(r.is_cuda(), op, ": r must be on a CUDA device, got ", r.device());
  VRWKV_CHECK(r.scalar_type() == torch::kFloat32 || r.scalar_type() == torch::kBFloat16, op,
              ": inputs must be bfloat16 or float32, got ", r.scalar_type());
  for (const auto* t : in) {
    VRWKV_CHECK(t->sizes() == r.sizes(), op, ": r, w, k, v, alpha, beta must have one shape; got ", r.sizes(),
                " and ", t->sizes());
    VRWKV_CHECK(t->device() == r.device(), op, ": all inputs must be on ", r.device(), ", got one on ", t->device());
    VRWKV_CHECK(t->scalar_type() == r.scalar_type(), op, ": inputs must have one dtype; got ", r.scalar_type(),
                " and ", t->scalar_type());
  }
  return {r.size(0), r.size(1), r.size(2) / kWkv7CudaHeadSize};
}

using cuda_glue::check_cuda;
using cuda_glue::in_ptr;
using cuda_glue::out_ptr;

float* float_ptr(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// One forward launch for either dtype; undefined optional tensors are passed as null.
void launch_forward(const char* op, const std::vector<torch::Tensor>& x, const torch::Tensor& y,
                    const torch::Tensor& state_in, const torch::Tensor& state_out, const torch::Tensor& sa,
                    const torch::Tensor& snapshots, const Dims& d) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const float* s_in = state_in.defined() ? state_in.data_ptr<float>() : nullptr;
  cudaError_t err;
  if (y.scalar_type() == torch::kBFloat16) {
    using S = __nv_bfloat16;
    err = wkv7_forward_cuda<S>(in_ptr<S>(x[0]), in_ptr<S>(x[1]), in_ptr<S>(x[2]), in_ptr<S>(x[3]), in_ptr<S>(x[4]),
                               in_ptr<S>(x[5]), out_ptr<S>(y), s_in, float_ptr(state_out), float_ptr(sa),
                               float_ptr(snapshots), d.B, d.T, d.H, kWkv7CudaHeadSize, stream);
  } else {
    err = wkv7_forward_cuda<float>(in_ptr<float>(x[0]), in_ptr<float>(x[1]), in_ptr<float>(x[2]),
                                   in_ptr<float>(x[3]), in_ptr<float>(x[4]), in_ptr<float>(x[5]), out_ptr<float>(y),
                                   s_in, float_ptr(state_out), float_ptr(sa), float_ptr(snapshots), d.B, d.T, d.H,
                                   kWkv7CudaHeadSize, stream);
  }
  check_cuda(err, op);
}

std::vector<torch::Tensor> contiguous(std::initializer_list<const torch::Tensor*> in) {
  std::vector<torch::Tensor> out;
  for (const auto* t : in) out.push_back(t->contiguous());
  return out;
}

}  // namespace

Wkv7CudaForward wkv7_cuda_forward(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& alpha, const torch::Tensor& beta) {
  const char* op = "wkv7_cuda_forward";
  const Dims d = check_inputs(op, {&r, &w, &k, &v, &alpha, &beta});
  const c10::cuda::CUDAGuard device_guard(r.device());
  const auto x = contiguous({&r, &w, &k, &v, &alpha, &beta});
  const auto f32 = r.options().dtype(torch::kFloat32);
  Wkv7CudaForward out{torch::empty(r.sizes(), r.options()), torch::empty({wkv7_sa_floats(d.B, d.T, d.H)}, f32),
                      torch::empty({wkv7_snapshot_floats(d.B, d.T, d.H)}, f32)};
  launch_forward(op, x, out.y, {}, {}, out.sa, out.snapshots, d);
  return out;
}

std::pair<torch::Tensor, torch::Tensor> wkv7_cuda_forward_from_state(const torch::Tensor& r, const torch::Tensor& w,
                                                                     const torch::Tensor& k, const torch::Tensor& v,
                                                                     const torch::Tensor& alpha,
                                                                     const torch::Tensor& beta,
                                                                     const torch::Tensor& state0) {
  const char* op = "wkv7_cuda_forward_from_state";
  const Dims d = check_inputs(op, {&r, &w, &k, &v, &alpha, &beta});
  const c10::cuda::CUDAGuard device_guard(r.device());
  torch::Tensor state_in;
  if (state0.defined()) {
    VRWKV_CHECK(state0.sizes() == torch::IntArrayRef({d.B, d.H, kWkv7CudaHeadSize, kWkv7CudaHeadSize}), op,
                ": state must be [", d.B, ", ", d.H, ", 64, 64], got ", state0.sizes());
    VRWKV_CHECK(state0.device() == r.device(), op, ": state on ", state0.device(), ", inputs on ", r.device());
    state_in = state0.to(torch::kFloat32).contiguous();
  }
  const auto x = contiguous({&r, &w, &k, &v, &alpha, &beta});
  auto y = torch::empty(r.sizes(), r.options());
  auto state = torch::empty({d.B, d.H, kWkv7CudaHeadSize, kWkv7CudaHeadSize}, r.options().dtype(torch::kFloat32));
  launch_forward(op, x, y, state_in, state, {}, {}, d);
  return {y, state};
}

std::vector<torch::Tensor> wkv7_cuda_backward(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                              const torch::Tensor& v, const torch::Tensor& alpha,
                                              const torch::Tensor& beta, const torch::Tensor& dy_in,
                                              const torch::Tensor& sa, const torch::Tensor& snapshots) {
  const char* op = "wkv7_cuda_backward";
  const Dims d = check_inputs(op, {&r, &w, &k, &v, &alpha, &beta});
  VRWKV_CHECK(dy_in.defined() && dy_in.sizes() == r.sizes() && dy_in.device() == r.device(), op,
              ": dy must match r ", r.sizes(), " on ", r.device());
  VRWKV_CHECK(sa.numel() == wkv7_sa_floats(d.B, d.T, d.H) && snapshots.numel() == wkv7_snapshot_floats(d.B, d.T, d.H) &&
                  sa.scalar_type() == torch::kFloat32 && snapshots.scalar_type() == torch::kFloat32,
              op, ": sa and snapshots are not this forward's");
  const c10::cuda::CUDAGuard device_guard(r.device());
  const auto x = contiguous({&r, &w, &k, &v, &alpha, &beta});
  const auto dy = dy_in.to(r.scalar_type()).contiguous();  // autograd may hand a gradient of another dtype
  std::vector<torch::Tensor> g;
  for (int n = 0; n < 6; ++n) g.push_back(torch::empty(r.sizes(), r.options()));
  // From the caching allocator, on this stream, like every other temporary.
  auto ds = torch::empty({wkv7_sa_floats(d.B, d.T, d.H)}, r.options().dtype(torch::kFloat32));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  cudaError_t err;
  if (r.scalar_type() == torch::kBFloat16) {
    using S = __nv_bfloat16;
    err = wkv7_backward_cuda<S>(in_ptr<S>(x[0]), in_ptr<S>(x[1]), in_ptr<S>(x[2]), in_ptr<S>(x[3]), in_ptr<S>(x[4]),
                                in_ptr<S>(x[5]), in_ptr<S>(dy), sa.data_ptr<float>(), snapshots.data_ptr<float>(),
                                ds.data_ptr<float>(), out_ptr<S>(g[0]), out_ptr<S>(g[1]), out_ptr<S>(g[2]), out_ptr<S>(g[3]),
                                out_ptr<S>(g[4]), out_ptr<S>(g[5]), d.B, d.T, d.H, kWkv7CudaHeadSize, stream);
  } else {
    err = wkv7_backward_cuda<float>(in_ptr<float>(x[0]), in_ptr<float>(x[1]), in_ptr<float>(x[2]),
                                    in_ptr<float>(x[3]), in_ptr<float>(x[4]), in_ptr<float>(x[5]), in_ptr<float>(dy),
                                    sa.data_ptr<float>(), snapshots.data_ptr<float>(), ds.data_ptr<float>(),
                                    out_ptr<float>(g[0]),
                                    out_ptr<float>(g[1]), out_ptr<float>(g[2]), out_ptr<float>(g[3]),
                                    out_ptr<float>(g[4]), out_ptr<float>(g[5]), d.B, d.T, d.H, kWkv7CudaHeadSize,
                                    stream);
  }
  check_cuda(err, op);
  return g;
}

}  // namespace vrwkv
