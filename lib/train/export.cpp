#include "train/export.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "io/tensor_file.h"
#include "train/checkpoint_reader.h"

namespace vrwkv::train {
namespace fs = std::filesystem;

std::vector<std::string> export_checkpoint(const std::string& checkpoint, const std::string& out_dir,
                                           const std::string& dtype, const std::string& name) {
  const auto dir = resolve_checkpoint(checkpoint);
  const auto state = read_trainer_state(dir);
  // The family's own default: v7's export.py casts everything to fp16.
  const auto& model = state.at("config").at("model");
  const bool v7 = model.contains("family") && model.at("family") == "v7";
  const std::string chosen = !dtype.empty() ? dtype : v7 ? "fp16" : "bf16";
  torch::ScalarType type;
  if (chosen == "bf16") type = torch::kBFloat16;
  else if (chosen == "fp16") type = torch::kFloat16;
  else if (chosen == "fp32") type = torch::kFloat32;
  else throw Error(cat("export: --dtype must be bf16, fp16 or fp32, got '", dtype, "'"));
  VRWKV_CHECK(!name.empty() && name.find('/') == std::string::npos, "export: bad name '", name, "'");

  const auto weights = load_checkpoint_weights(dir);  // complete: references resolved
  io::NamedTensors all, rwkv, visual;
  for (const auto& [key, t] : weights) {
    const auto converted = t.is_floating_point() ? t.to(type).contiguous() : t;
    all.emplace_back(key, converted);
    if (key.rfind("rwkv.", 0) == 0) rwkv.emplace_back(key.substr(5), converted);
    else visual.emplace_back(key, converted);
  }
  VRWKV_CHECK(!rwkv.empty(), dir, ": the checkpoint holds no rwkv.* tensors");
  fs::create_directories(out_dir);
  const auto base = fs::path(out_dir) / name;
  std::vector<std::string> files = {base.string() + "_rwkv.pth", base.string() + "_visual.pth",
                                    base.string() + ".safetensors", base.string() + ".json"};
  io::save_tensors(files[0], rwkv);
  io::save_tensors(files[1], visual);
  io::save_tensors(files[2], all);
  const nlohmann::json meta = {{"checkpoint", dir}, {"step", state.at("step")}, {"dtype", chosen},
                               {"config", state.at("config")}};
  std::ofstream(files[3]) << meta.dump(2) << "\n";
  return files;
}

}  // namespace vrwkv::train
