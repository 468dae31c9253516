#include "train/model_setup.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "base/error.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "train/checkpoint.h"

namespace vrwkv::train {
namespace {

// A Hugging Face CLIP folder holds model.safetensors or pytorch_model.bin.
std::string resolve_vision_file(const std::string& path) {
  if (!std::filesystem::is_directory(path)) return path;
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    const auto candidate = std::filesystem::path(path) / name;
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  throw Error(cat(path, ": a CLIP folder must hold model.safetensors or pytorch_model.bin"));
}

void load_component(VisualRWKV& model, const std::string& path, const std::vector<std::string>& required,
                    const char* what) {
  const auto report = io::load_into(*model, io::load_tensors(path), path, required);
  spdlog::info("loaded {} from {}: {} tensors", what, path, report.loaded.size());
  if (!report.unexpected.empty())
    spdlog::warn("{}: {} keys not used by the model (first: {})", path, report.unexpected.size(),
                 report.unexpected.front());
}

}  // namespace

void load_initial_weights(VisualRWKV& model, const InitConfig& init) {
  if (!init.rwkv.empty()) load_component(model, init.rwkv, {"rwkv."}, "the RWKV language model");
  if (!init.vision.empty()) load_component(model, resolve_vision_file(init.vision), {"vit."}, "the vision tower");
  if (!init.checkpoint.empty()) {
    // A checkpoint folder or a run's output folder (its newest checkpoint), or a weights file.
    const auto file = std::filesystem::is_directory(init.checkpoint)
                          ? (std::filesystem::path(resolve_checkpoint(init.checkpoint)) / "model.safetensors").string()
                          : init.checkpoint;
    load_component(model, file, {"rwkv.", "proj."}, "a VisualRWKV checkpoint");
  }
  if (init.rwkv.empty() && init.checkpoint.empty()) spdlog::warn("no RWKV weights given: random initialisation");
  if (init.vision.empty() && init.checkpoint.empty()) spdlog::warn("no vision weights given: random initialisation");
}

io::NamedTensors apply_freezing(VisualRWKV& model, const TrainConfig& t) {
  const int64_t n_layer = model->config.n_layer;
  auto set = [](torch::nn::Module& m, bool trained) {
    for (auto& p : m.parameters()) p.requires_grad_(trained);
  };
  set(*model->rwkv, true);
  set(*model->proj, !t.freeze_proj);
  set(*model->vit, t.train_vision);
  for (int64_t i = 0; i < t.freeze_rwkv_layers && i < n_layer; ++i) set(*model->rwkv->blocks[i], false);
  if (t.freeze_rwkv_layers >= n_layer) set(*model->rwkv, false);  // the whole language model, as the original
  if (t.freeze_emb) set(*model->rwkv->emb, false);
  // post_layernorm never sees a gradient (VisualRWKV reads the encoder before it): never train it.
  set(*model->vit->post_layernorm, false);
  io::NamedTensors trained;
  for (const auto& item : model->named_parameters())
    if (item.value().requires_grad()) trained.emplace_back(item.key(), item.value());
  VRWKV_CHECK(!trained.empty(), "train: every tensor is frozen; nothing to train");
  return trained;
}

torch::Device choose_device(const std::string& setting, int local_rank) {
  if (setting == "cpu") return torch::kCPU;
  if (setting == "cuda") {
    VRWKV_CHECK(torch::cuda::is_available(), "train.device is cuda but no CUDA device is available");
    return torch::Device(torch::kCUDA, local_rank % std::max<int64_t>(1, torch::cuda::device_count()));
  }
  if (torch::cuda::is_available())
    return torch::Device(torch::kCUDA, local_rank % std::max<int64_t>(1, torch::cuda::device_count()));
  return torch::kCPU;
}

}  // namespace vrwkv::train
