#include "train/trained_model.h"

#include <filesystem>

#include "io/state_dict.h"
#include "train/checkpoint_layout.h"
#include "train/checkpoint_reader.h"
#include "train/model_setup.h"

namespace vrwkv::train {

namespace fs = std::filesystem;

TrainedModel load_trained_model(const std::string& path, const std::vector<std::string>& sets, int local_rank) {
  TrainedModel t;
  t.checkpoint = resolve_checkpoint(path);
  auto config_json = read_trainer_state(t.checkpoint).at("config");
  for (const auto& s : sets) config::apply_override(config_json, s);
  t.config = run_config_from_json(config_json, trainer_state_path(t.checkpoint));
  // Frozen weights a checkpoint refers to are read from their source files (train/checkpoint_reader.h).
  const auto weights = load_checkpoint_weights(t.checkpoint);
  t.device = choose_device(t.config.train.device, local_rank);
  if (t.config.family == ModelFamily::kV7) {
    t.model7 = VisualRWKV7(t.config.model7);
    io::load_into(*t.model7, weights, t.checkpoint, kCheckpointComponents);
    prepare_for_inference(*t.model7, t.device, t.config.train.precision);
  } else {
    t.model = VisualRWKV(t.config.model);
    io::load_into(*t.model, weights, t.checkpoint, kCheckpointComponents);
    prepare_for_inference(*t.model, t.device, t.config.train.precision);
  }
  return t;
}

void prepare_for_inference(torch::nn::Module& model, torch::Device device, Precision precision) {
  model.to(device);
  if (precision == Precision::kBf16) model.to(torch::kBFloat16);
  for (auto& p : model.parameters()) p.requires_grad_(false);
  model.eval();
}

std::string checkpoint_folder_name(const std::string& dir) {
  auto p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace vrwkv::train
