// Frozen weights by reference: a weight a file supplied unchanged at set-up (RWKV, CLIP, v7's towers,
// init checkpoint) is recorded in a checkpoint's frozen.json by where it came from and a hash of it,
// not stored. This file owns frozen.json's format, both ways, and the checks made when a
// reference is read back.
#pragma once
#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vrwkv::train {

// Where a weight came from when a file supplied it unchanged at set-up.
struct TensorSource {
  std::string file;                          // absolute path
  std::string key;                           // its name in that file
  torch::ScalarType dtype = torch::kFloat32; // as stored there: the hash covers these bytes
  std::vector<int64_t> shape;
  uint64_t file_bytes = 0;                   // the file's size when it was read
  uint64_t hash = 0;                         // io::tensor_hash of the tensor as stored
};
using TensorSources = std::map<std::string, TensorSource>;  // by model name

// The record of `value`, read as `key` from `file`; hashes it (once per run, at set-up).
TensorSource tensor_source(const std::string& file, const std::string& key, const torch::Tensor& value);

// A frozen weight a checkpoint refers to instead of storing it: one entry of frozen.json.
struct FrozenReference {
  std::string name;                          // in the model
  int64_t index = 0;                         // its position among all the model's weights
  torch::ScalarType dtype = torch::kFloat32; // what the model held (bf16 runs): the source is converted to it
  TensorSource source;
};

// frozen.json's contents, and back (`where` names the file in errors).
nlohmann::json frozen_references_json(const std::vector<FrozenReference>& refs);
std::vector<FrozenReference> parse_frozen_references(const nlohmann::json& j, const std::string& where);

// The referenced tensors, by model name: each source file is read once, its size and each tensor's
// dtype, shape and hash checked against the record (a vrwkv::Error names `checkpoint_dir`, the
// tensor, the file and what differs), and converted to the dtype the model held.
std::map<std::string, torch::Tensor> resolve_frozen_references(const std::string& checkpoint_dir,
                                                               const std::vector<FrozenReference>& refs);

}  // namespace vrwkv::train
