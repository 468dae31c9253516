// The peak FLOP/s that model FLOPs utilisation (MFU) is measured against, by CUDA device name and
// run precision. The table holds the vendors' datasheet peaks for dense matrix math (no 2:4
// sparsity), the usual MFU denominator, so figures compare across devices and with published
// ones. SPEC section 10's "13% of the H100" is against a *measured* 790 TFLOP/s; against the
// H100 SXM datasheet's 989 TFLOP/s the same run is about 10.4%.
//   bf16 runs: the bf16 tensor-core peak (fp32 accumulate).
//   fp32 runs: the plain FP32 peak, not TF32: libtorch leaves TF32 matrix products off by default
//   and the trainer does not turn them on, so fp32 products run on the FP32 units.
// A device or precision not in the table has no peak: no MFU is better than a wrong one.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "config/run_config.h"

namespace vrwkv::train {

// `device_name` as CUDA reports it ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 PCIe", ...);
// `precision`: train.precision.
std::optional<double> peak_flops(const std::string& device_name, Precision precision);

// The peak of `device` for a run in `precision`; none on the CPU.
std::optional<double> device_peak_flops(const torch::Device& device, Precision precision);

}  // namespace vrwkv::train
