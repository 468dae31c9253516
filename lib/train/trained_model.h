// A trained checkpoint ready to answer questions: the run's resolved config (with --set applied),
// the model with its weights on the chosen device, frozen, in eval mode. What `generate`, `eval`
// and bench_eval load; it needs no training data library.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "config/run_config.h"
#include "model/visual_rwkv.h"
#include "model/visual_rwkv7.h"

namespace vrwkv::train {

struct TrainedModel {
  std::string checkpoint;  // the checkpoint folder
  RunConfig config;
  VisualRWKV model{nullptr};     // v6 (null for v7)
  VisualRWKV7 model7{nullptr};   // v7 (model.family v7; null for v6)
  torch::Device device = torch::kCPU;
};

// `path`: a checkpoint folder or a run's output_dir (its newest checkpoint). local_rank picks the
// GPU of a multi-process launch.
TrainedModel load_trained_model(const std::string& path, const std::vector<std::string>& sets, int local_rank);

// A model made ready for answering: on `device`, in `precision` (bf16, or float32 as built),
// nothing trained, eval mode. What load_trained_model does after loading the weights.
void prepare_for_inference(torch::nn::Module& model, torch::Device device, Precision precision);

// The checkpoint folder's name ("step_00001000"), also when the path ends with a separator.
std::string checkpoint_folder_name(const std::string& dir);

}  // namespace vrwkv::train
