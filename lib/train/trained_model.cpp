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

  t.model = VisualRWKV(t.config.model);
  // Frozen weights a checkpoint refers to are read from their source files (train/checkpoint_reader.h).
  io::load_into(*t.model, load_checkpoint_weights(t.checkpoint), t.checkpoint, kCheckpointComponents);
  t.device = choose_device(t.config.train.device, local_rank);
  prepare_for_inference(t.model, t.device, t.config.train.precision);
  return t;
}

void prepare_for_inference(VisualRWKV& model, torch::Device device, Precision precision) {
  model->to(device);
  if (precision == Precision::kBf16) model->to(torch::kBFloat16);
  for (auto& p : model->parameters()) p.requires_grad_(false);
  model->eval();
}

std::string checkpoint_folder_name(const std::string& dir) {
  auto p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace vrwkv::train
