// Format-agnostic checkpoint loading and atomic saving.
#pragma once
#include "io/named_tensors.h"

#include <string>

namespace vrwkv::io {

// Loads a torch.save zip file (recognised by its "PK\x03\x04" magic) or a .safetensors file,
// whatever the extension. Errors (missing, unreadable, unknown format, corrupt) name the path.
NamedTensors load_tensors(const std::string& path);

// Saves in the format the extension names: .pth/.pt/.bin -> torch.save zip, .safetensors ->
// safetensors (anything else is an error). Atomic: writes "<path>.tmp.<pid>", fsyncs it and
// renames it over `path`, so a crash leaves either the old file or the complete new one.
void save_tensors(const std::string& path, const NamedTensors& tensors);

}  // namespace vrwkv::io
