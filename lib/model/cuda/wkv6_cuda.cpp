// Torch glue of the WKV6 CUDA kernels: checks, layout, dtypes, stream. Compiled only into builds
// whose libtorch has CUDA (lib/model/cuda/CMakeLists.txt adds it when VRWKV_WITH_CUDA is on).
#include "model/cuda/wkv6_cuda.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "base/error.h"
#include "model/cuda/tensor_pointers.h"
#include "model/cuda/wkv6_kernels.cuh"
#include "model/wkv6.h"

namespace vrwkv {
static_assert(kWkv6KernelHeadSize == kWkv6HeadSize, "model/wkv6.h must name the kernel's head size");
namespace {

struct Dims {
  int64_t B, T, H;
};

bool is_input_dtype(torch::ScalarType t) { return t == torch::kFloat32 || t == torch::kBFloat16; }

Dims check_inputs(const char* op, const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                  const torch::Tensor& w, const torch::Tensor& u) {
  VRWKV_CHECK(r.defined() && k.defined() && v.defined() && w.defined() && u.defined(), op,
              ": undefined input tensor");
  VRWKV_CHECK(r.dim() == 3, op, ": r must be [B, T, C], got ", r.sizes());
  for (const auto* t : {&k, &v, &w})
    VRWKV_CHECK(t->sizes() == r.sizes(), op, ": r, k, v, w must have one shape; got ", r.sizes(), " and ",
                t->sizes());
  VRWKV_CHECK(u.dim() == 2 && u.size(1) == kWkv6HeadSize, op, ": u must be [H, ", kWkv6HeadSize,
              "] (the CUDA kernel supports head size ", kWkv6HeadSize, " only), got ", u.sizes());
  VRWKV_CHECK(u.size(0) * kWkv6HeadSize == r.size(2), op, ": u ", u.sizes(), " does not match C = ", r.size(2));

  VRWKV_CHECK(r.is_cuda(), op, ": r must be on a CUDA device, got ", r.device());
  for (const auto* t : {&k, &v, &w, &u})
    VRWKV_CHECK(t->device() == r.device(), op, ": all inputs must be on ", r.device(), ", got one on ",
                t->device());

  VRWKV_CHECK(is_input_dtype(r.scalar_type()), op, ": r, k, v, w must be bfloat16 or float32, got ",
              r.scalar_type());
  for (const auto* t : {&k, &v, &w})
    VRWKV_CHECK(t->scalar_type() == r.scalar_type(), op, ": r, k, v, w must have one dtype; got ",
                r.scalar_type(), " and ", t->scalar_type());
  VRWKV_CHECK(is_input_dtype(u.scalar_type()), op, ": u must be float32 or bfloat16, got ", u.scalar_type());
  return {r.size(0), r.size(1), u.size(0)};
}

using cuda_glue::check_cuda;
using cuda_glue::in_ptr;
using cuda_glue::out_ptr;

// The kernels take u as float32, contiguous.
torch::Tensor u_float(const torch::Tensor& u) { return u.to(torch::kFloat32).contiguous(); }

}  // namespace

torch::Tensor wkv6_cuda_forward(const torch::Tensor& r_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                                const torch::Tensor& w_in, const torch::Tensor& u_in) {
  const char* op = "wkv6_cuda_forward";
  const Dims d = check_inputs(op, r_in, k_in, v_in, w_in, u_in);
  const c10::cuda::CUDAGuard device_guard(r_in.device());
  const auto r = r_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous(), w = w_in.contiguous();
  const auto u = u_float(u_in);
  auto y = torch::empty(r.sizes(), r.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  cudaError_t err;
  if (r.scalar_type() == torch::kBFloat16) {
    using T = __nv_bfloat16;
    err = wkv6_forward_cuda<T>(in_ptr<T>(r), in_ptr<T>(k), in_ptr<T>(v), in_ptr<T>(w), in_ptr<float>(u),
                               out_ptr<T>(y), d.B, d.T, d.H, kWkv6HeadSize, stream);
  } else {
    err = wkv6_forward_cuda<float>(in_ptr<float>(r), in_ptr<float>(k), in_ptr<float>(v), in_ptr<float>(w),
                                   in_ptr<float>(u), out_ptr<float>(y), d.B, d.T, d.H, kWkv6HeadSize, stream);
  }
  check_cuda(err, op);
  return y;
}

std::vector<torch::Tensor> wkv6_cuda_backward(const torch::Tensor& r_in, const torch::Tensor& k_in,
                                              const torch::Tensor& v_in, const torch::Tensor& w_in,
                                              const torch::Tensor& u_in, const torch::Tensor& dy_in) {
  const char* op = "wkv6_cuda_backward";
  const Dims d = check_inputs(op, r_in, k_in, v_in, w_in, u_in);
  VRWKV_CHECK(dy_in.defined() && dy_in.sizes() == r_in.sizes(), op, ": dy must match r ", r_in.sizes(),
              ", got ", dy_in.defined() ? dy_in.sizes() : torch::IntArrayRef{});
  VRWKV_CHECK(dy_in.device() == r_in.device(), op, ": dy must be on ", r_in.device(), ", got ", dy_in.device());
  const c10::cuda::CUDAGuard device_guard(r_in.device());
  const auto dtype = r_in.scalar_type();
  const auto r = r_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous(), w = w_in.contiguous();
  const auto dy = dy_in.to(dtype).contiguous();  // autograd may hand a gradient of another dtype
  const auto u = u_float(u_in);

  auto dr = torch::empty(r.sizes(), r.options()), dk = torch::empty(r.sizes(), r.options());
  auto dv = torch::empty(r.sizes(), r.options()), dw = torch::empty(r.sizes(), r.options());
  auto du = torch::empty({d.H, kWkv6HeadSize}, r.options().dtype(torch::kFloat32));
  const size_t ws_bytes = wkv6_backward_workspace_bytes(d.B, d.T, d.H);
  // From the caching allocator, on this stream, like every other temporary.
  auto workspace = torch::empty({static_cast<int64_t>(ws_bytes)}, r.options().dtype(torch::kUInt8));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  cudaError_t err;
  if (dtype == torch::kBFloat16) {
    using T = __nv_bfloat16;
    err = wkv6_backward_cuda<T>(in_ptr<T>(r), in_ptr<T>(k), in_ptr<T>(v), in_ptr<T>(w), in_ptr<float>(u),
                                in_ptr<T>(dy), out_ptr<T>(dr), out_ptr<T>(dk), out_ptr<T>(dv), out_ptr<T>(dw),
                                out_ptr<float>(du), workspace.data_ptr(), ws_bytes, d.B, d.T, d.H, kWkv6HeadSize,
                                stream);
  } else {
    err = wkv6_backward_cuda<float>(in_ptr<float>(r), in_ptr<float>(k), in_ptr<float>(v), in_ptr<float>(w),
                                    in_ptr<float>(u), in_ptr<float>(dy), out_ptr<float>(dr), out_ptr<float>(dk),
                                    out_ptr<float>(dv), out_ptr<float>(dw), out_ptr<float>(du),
                                    workspace.data_ptr(), ws_bytes, d.B, d.T, d.H, kWkv6HeadSize, stream);
  }
  check_cuda(err, op);
  return {dr, dk, dv, dw, du.to(u_in.scalar_type())};
}

}  // namespace vrwkv
