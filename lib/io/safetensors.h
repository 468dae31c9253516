// Reader and writer of the .safetensors format (our own code; no external safetensors library).
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
//   {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data section; offsets are relative to its start.
#pragma once
#include "io/named_tensors.h"

#include <map>
#include <string>

namespace vrwkv::io {

// Reads every tensor of `path` onto the CPU, in the order of their data offsets (the order the
// writer stored them). When `metadata` is given it receives the "__metadata__" entries.
// Every structural problem throws vrwkv::Error naming the file (and the key, where there is one).
NamedTensors read_safetensors(const std::string& path,
                              std::map<std::string, std::string>* metadata = nullptr);

// Writes `tensors` in the given order (contiguous CPU copies), header padded with spaces to a
// multiple of 8 bytes. Writes `path` directly; use save_tensors() for an atomic replace.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// "F32" etc. for a dtype the format supports; throws vrwkv::Error for others.
std::string safetensors_dtype_name(torch::ScalarType dtype);
// The dtype of such a name; throws vrwkv::Error naming `where` for others.
torch::ScalarType safetensors_dtype(const std::string& name, const std::string& where);

}  // namespace vrwkv::io
