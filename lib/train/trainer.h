// `visualrwkv train`: one stage of SPEC section 9 on one CPU, one GPU or many ranks.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "config/run_config.h"
#include "train/batch_source.h"

namespace vrwkv::train {

struct TrainOptions {
  // "": start fresh; "latest": the newest checkpoint in output_dir (none yet: start fresh); else a path
  std::string resume;
  bool force = false;  // resume even though the config changes the run
  // Stop cleanly after this many steps of this process, as a preempted job does (0: never).
  int64_t stop_after = 0;
};

// Every rank calls this with the same config; batches come from make_batches (the data side's
// data::make_llava_batch_source for real runs). Returns the run's summary (also written to
// <output_dir>/summary.json by rank 0); on every rank "stopped_early" says whether it ended before
// train.steps (a stop signal or --stop-after).
nlohmann::json run_training(const RunConfig& config, const TrainOptions& options,
                            const BatchSourceFactory& make_batches);

}  // namespace vrwkv::train
