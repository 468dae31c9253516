// A float32 matrix product on bfloat16 tensor cores that keeps nearly float32's accuracy, for the
// chunked WKV7's state path (model/wkv7_chunked.h), where plain bfloat16 operands put 2e-3 of error
// into the state (measured).
//
// Each operand is split as x = hi + lo, hi = x rounded to bfloat16 and lo = the rest rounded to
// bfloat16, and a b = hi_a hi_b + hi_a lo_b + lo_a hi_b + lo_a lo_b. The first three terms are one
// product of [hi_a | hi_a | lo_a] and [hi_b; lo_b; hi_b] over three times the inner size: products of
// bfloat16 numbers are exact in float32 and the tensor cores sum in float32, so what is lost is the
// last term and the rest below lo, each at most 2^-16 of |a| |b| (bfloat16 keeps 8 significant bits).
// Off CUDA the same products run widened to float32 (base/torch_compat.h): the same numbers up to
// the order of the sums, three times the work of a plain float32 product; tests use it that way.
#pragma once
#include <torch/torch.h>

namespace vrwkv {

// a [..., m, k], b [..., k, n], float32, the same leading sizes, one device. Returns a b [..., m, n]
// in float32, differentiable with respect to both (the backward's products are split the same way).
torch::Tensor split_bf16_matmul(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace vrwkv
