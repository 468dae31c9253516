// The name CUDA reports for a device (e.g. "NVIDIA H100 80GB HBM3"): what the MFU lookup keys on.
#pragma once
#include <string>

namespace vrwkv {

// index -1: the current device. "" in a build without CUDA or when the device cannot be queried.
std::string cuda_device_name(int index = -1);

}  // namespace vrwkv
