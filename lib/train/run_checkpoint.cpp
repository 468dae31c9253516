#include "train/run_checkpoint.h"

#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "train/checkpoint_layout.h"
#include "train/checkpoint_reader.h"
#include "train/resume.h"

namespace vrwkv::train {

CheckpointContents checkpoint_contents(const RunConfig& config, dist::Communicator& comm, const RunModel& run,
                                       int64_t step, int64_t samples, const nlohmann::json& skips) {
  CheckpointContents c;
  c.step = step;
  // Under ZeRO-1 each rank holds a different share of the optimizer state; otherwise rank 0's is all.
  c.writes_optimizer = config.train.zero_stage == 1 || comm.is_main();
  if (c.writes_optimizer) c.optimizer = run.optimizer->state();
  if (comm.is_main()) {
    // Frozen weights a file supplied are referred to, not stored (unless checkpoint.frozen=copy).
    const bool refer = config.checkpoint.frozen == FrozenWeights::kReference;
    int64_t index = 0;
    for (const auto& item : run.model.module().named_parameters()) {
      const auto source = run.frozen_sources.find(item.key());
      if (refer && source != run.frozen_sources.end())
        c.frozen.push_back({item.key(), index, item.value().scalar_type(), source->second});
      else
        c.weights.emplace_back(item.key(), item.value().detach().cpu());
      ++index;
    }
    c.rng = {{kRngCpuKey, at::detail::getDefaultCPUGenerator().get_state()}};
    c.trainer = {{"step", step},
                 {"samples", samples},
                 {"global_batch", global_batch(config, comm.world_size())},
                 {"world_size", comm.world_size()},
                 {"skipped", skips},
                 {"config", config.resolved}};
  }
  return c;
}

std::string save_run_checkpoint(const RunConfig& config, dist::Communicator& comm, const RunModel& run, int64_t step,
                                int64_t samples, const nlohmann::json& skips) {
  return save_checkpoint(comm, config.checkpoint.output_dir, config.checkpoint.keep_last,
                         checkpoint_contents(config, comm, run, step, samples, skips));
}

TensorSources restore_weights(torch::nn::Module& model, const std::string& checkpoint_dir,
                              const std::set<std::string>& frozen) {
  auto weights = read_checkpoint_weights(checkpoint_dir);
  io::load_into(model, weights.tensors, checkpoint_dir, kCheckpointComponents);
  TensorSources sources;
  for (auto& [name, source] : weights.referenced)
    if (frozen.count(name)) sources[name] = std::move(source);
  return sources;
}

void restore_optimizer_state(AdamW& optimizer, const io::NamedTensors& owned, const std::string& checkpoint_dir) {
  // State is stored by parameter name: keep the entries of the tensors this rank owns now.
  std::set<std::string> mine;
  for (const auto& [name, t] : owned) mine.insert(name);
  const auto state = load_optimizer_state(checkpoint_dir, [&](const std::string& key) {
    const auto dot = key.rfind('.');
    return dot != std::string::npos && mine.count(key.substr(0, dot)) > 0;
  });
  optimizer.load_state(state, optimizer_state_source(checkpoint_dir));
}

void restore_rng(const std::string& checkpoint_dir) {
  // Nothing in a step draws random numbers today; the generator is restored so that nothing
  // added later (dropout, sampling) silently breaks exact resume.
  const auto rng = load_rng_state(checkpoint_dir);
  auto generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(io::find_tensor(rng, kRngCpuKey));
}

}  // namespace vrwkv::train
