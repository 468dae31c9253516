#include "trained_model.h"

#include <filesystem>

#include "io/state_dict.h"
#include "train/checkpoint.h"
#include "train/model_setup.h"

namespace vrwkv {

namespace fs = std::filesystem;

TrainedModel load_trained_model(const std::string& path, const std::vector<std::string>& sets, int local_rank) {
  TrainedModel t;
  t.checkpoint = train::resolve_checkpoint(path);
  auto config_json = train::read_checkpoint_json(t.checkpoint, "trainer.json").at("config");
  for (const auto& s : sets) config::apply_override(config_json, s);
  t.config = run_config_from_json(config_json, (fs::path(t.checkpoint) / "trainer.json").string());

  t.model = VisualRWKV(t.config.model);
  // Frozen weights a checkpoint refers to are read from their source files (train/checkpoint.h).
  io::load_into(*t.model, train::load_checkpoint_weights(t.checkpoint), t.checkpoint, {"rwkv.", "vit.", "proj."});
  t.device = train::choose_device(t.config.train.device, local_rank);
  t.model->to(t.device);
  if (t.config.train.precision == "bf16") t.model->to(torch::kBFloat16);
  for (auto& p : t.model->parameters()) p.requires_grad_(false);
  t.model->eval();
  return t;
}

std::string checkpoint_folder_name(const std::string& dir) {
  auto p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace vrwkv
