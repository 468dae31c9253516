// An ordered list of (name, tensor): the in-memory form of every checkpoint file we read or write.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace vrwkv::io {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Returns the tensor called `name`, or an undefined tensor.
inline torch::Tensor find_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [key, value] : tensors)
    if (key == name) return value;
  return {};
}

}  // namespace vrwkv::io
