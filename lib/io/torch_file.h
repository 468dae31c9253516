// torch.save zip files (.pth / .pt / .bin) holding a dict name -> tensor.
#pragma once
#include "io/named_tensors.h"

#include <string>

namespace vrwkv::io {

// Reads a torch.save zip file onto the CPU (whatever device the tensors were saved from). The
// top-level object must be a dict; a dict stored under "state_dict" or "module" is used instead
// when present. Non-tensor values and non-string keys are skipped. Errors are vrwkv::Error naming
// the file.
NamedTensors read_torch_file(const std::string& path);

// Writes a torch.save-compatible zip file (loadable by Python's torch.load) of a dict in the
// given order. Writes `path` directly; use save_tensors() for an atomic replace.
void write_torch_file(const std::string& path, const NamedTensors& tensors);

}  // namespace vrwkv::io
