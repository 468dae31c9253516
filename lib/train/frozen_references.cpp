#include "train/frozen_references.h"

#include <filesystem>

#include "base/error.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "io/tensor_hash.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

constexpr int kFrozenFormat = 1;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The referenced tensors of one source file, checked against their records and converted to the
// dtype the model held (through float32, the dtype the model is built in, as the run converted them).
void resolve_from_file(const std::string& checkpoint_dir, const std::string& file,
                       const std::vector<const FrozenReference*>& refs, std::map<std::string, torch::Tensor>& out) {
  // Problems of the whole file name its first tensor and how many more it supplies.
  const auto fail = [&](const FrozenReference& r, const std::string& what, bool whole_file = false) {
    const std::string others = whole_file && refs.size() > 1 ? cat(" (and ", refs.size() - 1, " more)") : "";
    return Error(cat(checkpoint_dir, ": frozen tensor '", r.name, "'", others, " refers to '", r.source.key, "' of ",
                     file, ", ", what, "; restore that file, or use a checkpoint written with checkpoint.frozen=copy"));
  };
  const FrozenReference& first = *refs.front();
  std::error_code ec;
  if (!fs::exists(file, ec)) throw fail(first, "which is missing", true);
  const auto bytes = fs::file_size(file, ec);
  if (ec) throw fail(first, cat("which cannot be read (", ec.message(), ")"), true);
  if (bytes != first.source.file_bytes)
    throw fail(first, cat("whose size changed: ", first.source.file_bytes, " bytes recorded, ", bytes, " now"), true);
  io::NamedTensors tensors;
  try {
    tensors = io::load_tensors(file);
  } catch (const Error& e) {
    throw fail(first, cat("which cannot be loaded: ", e.what()), true);
  }
  for (const auto* r : refs) {
    auto t = io::find_tensor(tensors, r->source.key);
    if (!t.defined()) throw fail(*r, "which the file no longer holds");
    if (t.scalar_type() != r->source.dtype || t.sizes().vec() != r->source.shape)
      throw fail(*r, cat("which is ", io::safetensors_dtype_name(t.scalar_type()), " ", shape_text(t.sizes().vec()),
                         " now, ", io::safetensors_dtype_name(r->source.dtype), " ", shape_text(r->source.shape),
                         " recorded"));
    const uint64_t hash = io::tensor_hash(t);
    if (hash != r->source.hash)
      throw fail(*r, cat("whose values changed (hash ", io::hash_text(hash), ", recorded ",
                         io::hash_text(r->source.hash), ")"));
    if (t.is_floating_point()) t = t.to(torch::kFloat32);
    out[r->name] = t.to(r->dtype);
  }
}

}  // namespace

TensorSource tensor_source(const std::string& file, const std::string& key, const torch::Tensor& value) {
  TensorSource s;
  s.file = fs::absolute(file).lexically_normal().string();
  s.key = key;
  s.dtype = value.scalar_type();
  s.shape = value.sizes().vec();
  s.file_bytes = fs::file_size(s.file);
  s.hash = io::tensor_hash(value);
  return s;
}

nlohmann::json frozen_references_json(const std::vector<FrozenReference>& refs) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& r : refs)
    tensors.push_back({{"name", r.name},
                       {"index", r.index},
                       {"dtype", io::safetensors_dtype_name(r.dtype)},
                       {"file", r.source.file},
                       {"key", r.source.key},
                       {"file_dtype", io::safetensors_dtype_name(r.source.dtype)},
                       {"shape", r.source.shape},
                       {"file_bytes", r.source.file_bytes},
                       {"hash", io::hash_text(r.source.hash)}});
  return {{"format", kFrozenFormat}, {"hash", io::kTensorHashName}, {"tensors", tensors}};
}

std::vector<FrozenReference> parse_frozen_references(const nlohmann::json& j, const std::string& where) {
  std::vector<FrozenReference> refs;
  try {
    VRWKV_CHECK(j.at("format").get<int>() == kFrozenFormat, where, ": format ", j.at("format"), ", expected ",
                kFrozenFormat);
    VRWKV_CHECK(j.at("hash").get<std::string>() == io::kTensorHashName, where, ": hashes made with ", j.at("hash"),
                ", this build computes ", io::kTensorHashName);
    for (const auto& t : j.at("tensors")) {
      FrozenReference r;
      r.name = t.at("name").get<std::string>();
      const std::string at = cat(where, ": '", r.name, "'");
      r.index = t.at("index").get<int64_t>();
      r.dtype = io::safetensors_dtype(t.at("dtype").get<std::string>(), at);
      r.source.file = t.at("file").get<std::string>();
      r.source.key = t.at("key").get<std::string>();
      r.source.dtype = io::safetensors_dtype(t.at("file_dtype").get<std::string>(), at);
      r.source.shape = t.at("shape").get<std::vector<int64_t>>();
      r.source.file_bytes = t.at("file_bytes").get<uint64_t>();
      r.source.hash = io::hash_from_text(t.at("hash").get<std::string>(), at);
      refs.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat(where, ": ", e.what()));
  }
  return refs;
}

std::map<std::string, torch::Tensor> resolve_frozen_references(const std::string& checkpoint_dir,
                                                               const std::vector<FrozenReference>& refs) {
  // One pass per source file: each is loaded once, whatever the number of tensors it supplies.
  std::map<std::string, std::vector<const FrozenReference*>> by_file;
  for (const auto& r : refs) by_file[r.source.file].push_back(&r);
  std::map<std::string, torch::Tensor> resolved;
  for (const auto& [file, group] : by_file) resolve_from_file(checkpoint_dir, file, group, resolved);
  return resolved;
}

}  // namespace vrwkv::train
