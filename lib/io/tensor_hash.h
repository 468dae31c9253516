// A fast 64-bit content hash of a tensor's bytes: how a checkpoint recognises that a frozen tensor it
// refers to is still what the run loaded (not a cryptographic hash; a change detector).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace vrwkv::io {

// The name recorded beside every hash, so a future change of the function is never mistaken for
// changed data.
inline constexpr const char* kTensorHashName = "vrwkv-hash64-v1";

// Hash of the tensor's elements as stored (its dtype, row-major, little-endian), and of their count
// in bytes; shape and dtype are not part of it (callers record and compare them separately).
uint64_t tensor_hash(const torch::Tensor& tensor);

// 16 lowercase hex digits, and back (throws vrwkv::Error naming `where` on anything else).
std::string hash_text(uint64_t hash);
uint64_t hash_from_text(const std::string& text, const std::string& where);

}  // namespace vrwkv::io
