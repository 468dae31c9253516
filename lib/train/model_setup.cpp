#include "train/model_setup.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "dist/zero.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "train/checkpoint_reader.h"
#include "train/run_checkpoint.h"

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

// Loads `tensors` (read from `path`) into the model; returns the model names it supplied, with
// the key each came from.
std::map<std::string, size_t> load_component(VisualRWKV& model, const io::NamedTensors& tensors,
                                             const std::string& path, const std::vector<std::string>& required,
                                             const char* what) {
  const auto report = io::load_into(*model, tensors, path, required);
  spdlog::info("loaded {} from {}: {} tensors", what, path, report.loaded.size());
  if (!report.unexpected.empty())
    spdlog::warn("{}: {} keys not used by the model (first: {})", path, report.unexpected.size(),
                 report.unexpected.front());
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < tensors.size(); ++i) by_name[io::canonical_name(tensors[i].first)] = i;
  std::map<std::string, size_t> supplied;
  for (const auto& name : report.loaded) supplied[name] = by_name.at(name);
  return supplied;
}

// Loads a weights file, recording the origin of the tracked tensors it supplies (over earlier ones).
void load_file(VisualRWKV& model, const std::string& path, const std::vector<std::string>& required, const char* what,
               const std::set<std::string>& track, TensorSources& sources) {
  const auto tensors = io::load_tensors(path);
  for (const auto& [name, i] : load_component(model, tensors, path, required, what)) {
    if (track.count(name)) sources[name] = tensor_source(path, tensors[i].first, tensors[i].second);
    else sources.erase(name);
  }
}

// A checkpoint folder: its stored tensors come from its model.safetensors, its referenced ones
// keep the origin it recorded (the file that first supplied them).
void load_checkpoint_folder(VisualRWKV& model, const std::string& folder, const std::set<std::string>& track,
                            TensorSources& sources) {
  const auto dir = resolve_checkpoint(folder);
  const auto file = stored_weights_path(dir);
  const auto weights = read_checkpoint_weights(dir);
  for (const auto& [name, i] : load_component(model, weights.tensors, dir, {"rwkv.", "proj."}, "a VisualRWKV checkpoint")) {
    const auto referenced = weights.referenced.find(name);
    if (!track.count(name)) sources.erase(name);
    else if (referenced != weights.referenced.end()) sources[name] = referenced->second;
    else sources[name] = tensor_source(file, weights.tensors[i].first, weights.tensors[i].second);
  }
}

}  // namespace

TensorSources load_initial_weights(VisualRWKV& model, const InitConfig& init, const std::set<std::string>& track) {
  TensorSources sources;
  if (!init.rwkv.empty()) load_file(model, init.rwkv, {"rwkv."}, "the RWKV language model", track, sources);
  if (!init.vision.empty())
    load_file(model, resolve_vision_file(init.vision), {"vit."}, "the vision tower", track, sources);
  if (!init.checkpoint.empty()) {
    // A checkpoint folder or a run's output folder (its newest checkpoint), or a weights file.
    if (std::filesystem::is_directory(init.checkpoint)) load_checkpoint_folder(model, init.checkpoint, track, sources);
    else load_file(model, init.checkpoint, {"rwkv.", "proj."}, "a VisualRWKV checkpoint", track, sources);
  }
  if (init.rwkv.empty() && init.checkpoint.empty()) spdlog::warn("no RWKV weights given: random initialisation");
  if (init.vision.empty() && init.checkpoint.empty()) spdlog::warn("no vision weights given: random initialisation");
  return sources;
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

torch::Device choose_device(DeviceSetting setting, int local_rank) {
  if (setting == DeviceSetting::kCpu) return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  VRWKV_CHECK(cuda || setting != DeviceSetting::kCuda, "train.device is cuda but no CUDA device is available");
  if (!cuda) return torch::kCPU;
  return torch::Device(torch::kCUDA, local_rank % std::max<int64_t>(1, torch::cuda::device_count()));
}

}  // namespace vrwkv::train

namespace vrwkv::train {

RunModel prepare_model(const RunConfig& config, torch::Device device, dist::Communicator& comm,
                       const std::string& resume_dir) {
  RunModel run;
  torch::manual_seed(config.seed);
  run.model = VisualRWKV(config.model);
  run.trained = apply_freezing(run.model, config.train);
  // The frozen tensors a file supplies unchanged: checkpoints refer to them instead of storing them.
  std::set<std::string> frozen;
  for (const auto& item : run.model->named_parameters())
    if (!item.value().requires_grad()) frozen.insert(item.key());
  // A resumed run keeps referring to the files its checkpoint referred to (checked there).
  run.frozen_sources = resume_dir.empty() ? load_initial_weights(run.model, config.init, frozen)
                                          : restore_weights(run.model, resume_dir, frozen);
  run.model->rwkv->checkpoint_blocks = config.train.grad_checkpointing;
  run.model->to(device);
  {
    // Every rank starts from rank 0's weights.
    std::vector<torch::Tensor> all;
    for (auto& p : run.model->parameters()) all.push_back(p.data());
    comm.broadcast(all, 0);
  }
  int64_t n_trained = 0;
  for (const auto& [name, p] : run.trained) n_trained += p.numel();
  spdlog::info("stage {}: training {} tensors, {} parameters", config.train.stage, run.trained.size(), n_trained);

  run.owners = config.train.zero_stage == 1 ? dist::partition_owners(run.trained, comm.world_size())
                                            : std::vector<int>(run.trained.size(), comm.rank());
  const auto owned = dist::owned_by(run.trained, run.owners, comm.rank());
  run.optimizer = std::make_unique<AdamW>(
      owned, AdamWOptions{config.optim.beta1, config.optim.beta2, config.optim.eps, config.optim.weight_decay,
                          {{"vit.", config.optim.vision_lr_scale}}});
  if (!resume_dir.empty()) restore_optimizer_state(*run.optimizer, owned, resume_dir);
  if (config.train.precision == Precision::kBf16) run.model->to(torch::kBFloat16);
  if (!resume_dir.empty()) restore_rng(resume_dir);
  return run;
}

}  // namespace vrwkv::train
