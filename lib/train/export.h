// `visualrwkv export`: a checkpoint becomes the files the original's tools read:
//   <name>_rwkv.pth     the rwkv.* tensors without the prefix (RWKV inference tools load this)
//   <name>_visual.pth   the vision tower and the projector, with their VisualRWKV names
//   <name>.safetensors  everything
//   <name>.json         the resolved config of the run
#pragma once
#include <string>
#include <vector>

namespace vrwkv::train {

// dtype: "bf16", "fp16" or "fp32" (floating tensors only); "": the family's default, bf16 for v6
// and fp16 for v7 (as the original's v7 export.py). Returns the files written.
std::vector<std::string> export_checkpoint(const std::string& checkpoint, const std::string& out_dir,
                                           const std::string& dtype, const std::string& name);

}  // namespace vrwkv::train
