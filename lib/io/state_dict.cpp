// Name canonicalisation and state-dict loading with strict, early validation.
#include "io/state_dict.h"

#include "base/error.h"

#include <unordered_map>
#include <utility>

namespace vrwkv::io {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

}  // namespace

std::string canonical_name(const std::string& key) {
  // Hugging Face buffers and the text half of a CLIPModel: never part of our model.
  if (key == "position_ids" || ends_with(key, ".position_ids") || key == "logit_scale" ||
      starts_with(key, "text_model.") || starts_with(key, "visual_projection.") ||
      starts_with(key, "text_projection."))
    return "";
  if (starts_with(key, "vit.vision_model.")) return "vit." + key.substr(17);
  if (starts_with(key, "vision_model.")) return "vit." + key.substr(13);
  for (const char* rwkv_part : {"emb.", "blocks.", "ln_out.", "head."})
    if (starts_with(key, rwkv_part)) return "rwkv." + key;
  return key;
}

std::string component_of(const std::string& canonical) {
  const std::string first = canonical.substr(0, canonical.find('.'));
  if (first == "rwkv" || first == "vit" || first == "proj") return first;
  return "other";
}

LoadReport load_into(torch::nn::Module& module, const NamedTensors& tensors,
                     const std::string& source, const std::vector<std::string>& required_prefixes) {
  LoadReport report;

  // canonical name -> index into `tensors`
  std::unordered_map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& key = tensors[i].first;
    const std::string name = canonical_name(key);
    if (name.empty()) {
      report.ignored.push_back(key);
      continue;
    }
    const auto [it, inserted] = by_name.emplace(name, i);
    VRWKV_CHECK(inserted, source, ": keys '", tensors[it->second].first, "' and '", key,
                "' both map to '", name, "'");
  }

  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : module.named_parameters(true)) targets.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(true)) targets.emplace_back(item.key(), item.value());

  // Pass 1: validate everything, so that an error leaves the module untouched.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (destination, source)
  std::vector<std::string> required_missing;
  std::vector<bool> used(tensors.size(), false);
  for (auto& [name, target] : targets) {
    if (!target.defined()) continue;
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      bool required = false;
      for (const auto& prefix : required_prefixes) required = required || starts_with(name, prefix);
      (required ? required_missing : report.missing).push_back(name);
      continue;
    }
    const auto& [file_key, value] = tensors[found->second];
    VRWKV_CHECK(value.defined(), source, ": key '", file_key, "' holds no tensor");
    VRWKV_CHECK(value.sizes() == target.sizes(), source, ": key '", name, "': checkpoint shape ",
                shape_text(value.sizes()), " but the model expects ", shape_text(target.sizes()),
                file_key != name ? cat(" (stored as '", file_key, "')") : std::string());
    used[found->second] = true;
    copies.emplace_back(target, value);
    report.loaded.push_back(name);
  }
  if (!required_missing.empty()) {
    throw Error(cat(source, ": missing key '", required_missing.front(), "'",
                    required_missing.size() > 1
                        ? cat(" (", required_missing.size(), " required keys missing in total)")
                        : std::string()));
  }

  // Pass 2: copy; copy_ converts dtype and device.
  {
    torch::NoGradGuard no_grad;
    for (auto& [destination, value] : copies) destination.copy_(value);
  }

  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!used[i] && !canonical_name(tensors[i].first).empty())
      report.unexpected.push_back(tensors[i].first);
  }
  return report;
}

NamedTensors state_of(const torch::nn::Module& module) {
  NamedTensors result;
  for (const auto& item : module.named_parameters(true))
    result.emplace_back(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers(true))
    result.emplace_back(item.key(), item.value().detach());
  return result;
}

}  // namespace vrwkv::io
