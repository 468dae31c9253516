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
#include "train/vision_tower_files7.h"

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
std::map<std::string, size_t> load_component(torch::nn::Module& model, const io::NamedTensors& tensors,
                                             const std::string& path, const std::vector<std::string>& required,
                                             const char* what) {
  const auto report = io::load_into(model, tensors, path, required);
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
void load_file(torch::nn::Module& model, const std::string& path, const std::vector<std::string>& required,
               const char* what, const std::set<std::string>& track, TensorSources& sources) {
  const auto tensors = io::load_tensors(path);
  for (const auto& [name, i] : load_component(model, tensors, path, required, what)) {
    if (track.count(name)) sources[name] = tensor_source(path, tensors[i].first, tensors[i].second);
    else sources.erase(name);
  }
}

// A checkpoint folder: its stored tensors come from its model.safetensors, its referenced ones
// keep the origin it recorded (the file that first supplied them).
void load_checkpoint_folder(torch::nn::Module& model, const std::string& folder, const std::set<std::string>& track,
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

// init.checkpoint: a checkpoint folder or a run's output folder (its newest checkpoint), or a weights file.
void load_init_checkpoint(torch::nn::Module& model, const std::string& path, const std::set<std::string>& track,
                          TensorSources& sources) {
  if (std::filesystem::is_directory(path)) load_checkpoint_folder(model, path, track, sources);
  else load_file(model, path, {"rwkv.", "proj."}, "a VisualRWKV checkpoint", track, sources);
}

}  // namespace

TensorSources load_initial_weights(VisualRWKV& model, const InitConfig& init, const std::set<std::string>& track) {
  TensorSources sources;
  if (!init.rwkv.empty()) load_file(*model, init.rwkv, {"rwkv."}, "the RWKV language model", track, sources);
  if (!init.vision.empty())
    load_file(*model, resolve_vision_file(init.vision), {"vit."}, "the vision tower", track, sources);
  if (!init.checkpoint.empty()) load_init_checkpoint(*model, init.checkpoint, track, sources);
  if (init.rwkv.empty() && init.checkpoint.empty()) spdlog::warn("no RWKV weights given: random initialisation");
  if (init.vision.empty() && init.checkpoint.empty()) spdlog::warn("no vision weights given: random initialisation");
  return sources;
}

TensorSources load_initial_weights(VisualRWKV7& model, const InitConfig& init, const std::set<std::string>& track) {
  TensorSources sources;
  if (!init.rwkv.empty()) load_file(*model, init.rwkv, {"rwkv."}, "the RWKV-7 language model", track, sources);
  if (!init.vision.empty()) {
    // The towers take their files' tensors renamed but unchanged, except the position embeddings
    // resampled to the 32x32 grid: checkpoints refer to the files for the unchanged ones.
    const auto from_files = load_vision_towers7(model->vit, init.vision);
    spdlog::info("loaded the three vision towers from {}", init.vision);
    for (const auto& item : model->vit->named_parameters()) {
      const auto name = "vit." + item.key();
      const auto source = from_files.find(item.key());
      if (track.count(name) && source != from_files.end()) sources[name] = source->second;
      else sources.erase(name);
    }
  }
  if (!init.checkpoint.empty()) load_init_checkpoint(*model, init.checkpoint, track, sources);
  if (init.rwkv.empty() && init.checkpoint.empty()) spdlog::warn("no RWKV-7 weights given: random initialisation");
  if (init.vision.empty() && init.checkpoint.empty())
    spdlog::warn("no vision tower weights given: random initialisation");
  return sources;
}

namespace {

// The RWKV blocks' freezing both families share (SPEC section 9, SPEC-v7 section 9): the first N
// blocks frozen, N = n_layer the whole language model (emb, ln_out and head too), emb on request.
template <class LM>
void freeze_language_model(LM& rwkv, int64_t n_layer, const TrainConfig& t) {
  auto set = [](torch::nn::Module& m, bool trained) {
    for (auto& p : m.parameters()) p.requires_grad_(trained);
  };
  set(*rwkv, true);
  for (int64_t i = 0; i < t.freeze_rwkv_layers && i < n_layer; ++i) set(*rwkv->blocks[i], false);
  if (t.freeze_rwkv_layers >= n_layer) set(*rwkv, false);
  if (t.freeze_emb) set(*rwkv->emb, false);
}

io::NamedTensors trained_tensors(torch::nn::Module& model) {
  io::NamedTensors trained;
  for (const auto& item : model.named_parameters())
    if (item.value().requires_grad()) trained.emplace_back(item.key(), item.value());
  VRWKV_CHECK(!trained.empty(), "train: every tensor is frozen; nothing to train");
  return trained;
}

}  // namespace

io::NamedTensors apply_freezing(VisualRWKV7& model, const TrainConfig& t) {
  freeze_language_model(model->rwkv, model->config.rwkv.n_layer, t);
  for (auto& item : model->named_parameters())
    if (item.key().rfind("proj.", 0) == 0) item.value().requires_grad_(!t.freeze_proj);
  // The original never trains the towers; train.train_vision does (the demo starts from random ones).
  for (auto& p : model->vit->parameters()) p.requires_grad_(t.train_vision);
  return trained_tensors(*model);
}

io::NamedTensors apply_freezing(VisualRWKV& model, const TrainConfig& t) {
  auto set = [](torch::nn::Module& m, bool trained) {
    for (auto& p : m.parameters()) p.requires_grad_(trained);
  };
  freeze_language_model(model->rwkv, model->config.n_layer, t);
  set(*model->proj, !t.freeze_proj);
  set(*model->vit, t.train_vision);
  // post_layernorm never sees a gradient (VisualRWKV reads the encoder before it): never train it.
  set(*model->vit->post_layernorm, false);
  return trained_tensors(*model);
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
  run.model = TrainModel::from_config(config);
  const bool v7 = run.model.family() == ModelFamily::kV7;
  VisualRWKV v6_model = v7 ? VisualRWKV(nullptr) : run.model.v6();
  VisualRWKV7 v7_model = v7 ? run.model.v7() : VisualRWKV7(nullptr);
  run.trained = v7 ? apply_freezing(v7_model, config.train) : apply_freezing(v6_model, config.train);
  auto& module = run.model.module();
  // The frozen tensors a file supplies unchanged: checkpoints refer to them instead of storing them.
  std::set<std::string> frozen;
  for (const auto& item : module.named_parameters())
    if (!item.value().requires_grad()) frozen.insert(item.key());
  // A resumed run keeps referring to the files its checkpoint referred to (checked there).
  if (!resume_dir.empty()) run.frozen_sources = restore_weights(module, resume_dir, frozen);
  else if (v7) run.frozen_sources = load_initial_weights(v7_model, config.init, frozen);
  else run.frozen_sources = load_initial_weights(v6_model, config.init, frozen);
  if (v7) v7_model->rwkv->checkpoint_blocks = config.train.grad_checkpointing;
  else v6_model->rwkv->checkpoint_blocks = config.train.grad_checkpointing;
  module.to(device);
  {
    // Every rank starts from rank 0's weights.
    std::vector<torch::Tensor> all;
    for (auto& p : module.parameters()) all.push_back(p.data());
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
  if (config.train.precision == Precision::kBf16) module.to(torch::kBFloat16);
  if (!resume_dir.empty()) restore_rng(resume_dir);
  return run;
}

}  // namespace vrwkv::train
