// A trained checkpoint ready to answer questions: the run's resolved config (with --set applied),
// the model with its weights on the chosen device, frozen, in eval mode. Shared by `generate` and
// `eval`.
#pragma once
#include <string>
#include <vector>

#include "config/run_config.h"
#include "model/visual_rwkv.h"

namespace vrwkv {

struct TrainedModel {
  std::string checkpoint;  // the checkpoint folder
  RunConfig config;
  VisualRWKV model{nullptr};
  torch::Device device = torch::kCPU;
};

// `path`: a checkpoint folder or a run's output_dir (its newest checkpoint). local_rank picks the
// GPU of a multi-process launch.
TrainedModel load_trained_model(const std::string& path, const std::vector<std::string>& sets, int local_rank);

// The checkpoint folder's name ("step_00001000"), also when the path ends with a separator.
std::string checkpoint_folder_name(const std::string& dir);

}  // namespace vrwkv
