// Mapping checkpoint key names onto our modules and copying weights in and out.
#pragma once
#include "io/named_tensors.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace vrwkv::io {

// Our canonical name for a checkpoint key, or "" for keys we deliberately ignore:
//   vit.vision_model.X -> vit.X          vision_model.X (Hugging Face CLIPModel) -> vit.X
//   emb.* blocks.* ln_out.* head.* (plain RWKV checkpoint) -> rwkv.<key>
//   text_model.* visual_projection.* text_projection.* logit_scale *.position_ids -> ""
//   rwkv.* vit.* proj.* and anything else -> unchanged.
std::string canonical_name(const std::string& key);

// "rwkv", "vit" or "proj" (the first path element of a canonical name), else "other".
std::string component_of(const std::string& canonical);

struct LoadReport {
  std::vector<std::string> loaded;      // model names that received a value
  std::vector<std::string> missing;     // model names absent from the file (not required)
  std::vector<std::string> unexpected;  // file keys (as stored) the model has no place for
  std::vector<std::string> ignored;     // file keys (as stored) canonical_name() drops
};

// Copies the tensors into the parameters and buffers of `module` (names as named_parameters()
// gives them), converting dtype and device. Everything is validated before anything is copied,
// so on error the module is unchanged. Errors, naming `source`: a shape mismatch, a missing
// model name that starts with one of `required_prefixes`, two file keys with the same canonical
// name.
LoadReport load_into(torch::nn::Module& module, const NamedTensors& tensors,
                     const std::string& source, const std::vector<std::string>& required_prefixes);

// The parameters, then the buffers, of `module` in module order, detached (sharing memory).
NamedTensors state_of(const torch::nn::Module& module);

}  // namespace vrwkv::io
