// Where a run starts: fresh, or from a checkpoint (--resume). The policy of a resume: every rank
// takes rank 0's choice of checkpoint; `--resume` with nothing to resume starts fresh (so a
// scheduler can re-run one command line); a config that changes the run needs --force, except
// the world size and train.grad_accumulation when the global batch stays the same; checkpoints
// newer than the one resumed from are set aside (renamed, not deleted), so the next resume and
// pruning see only the current lineage.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "config/run_config.h"
#include "dist/communicator.h"

namespace vrwkv::train {

struct ResumePoint {
  std::string dir;         // "": a fresh start
  nlohmann::json trainer;  // the checkpoint's trainer.json (null when fresh)
  int64_t step = 0;        // optimizer steps done
  int64_t samples = 0;     // the cursor: samples of the global order consumed
  nlohmann::json skips;    // the whole run's skip counts so far (null when fresh)
};

// `resume`: "" (fresh), "latest" (the newest checkpoint in checkpoint.output_dir, if any) or a
// checkpoint folder / output_dir. Every rank calls this; rank 0 sets aside the abandoned lineage
// and trims metrics.jsonl and the TensorBoard event files to the resumed step.
ResumePoint find_resume_point(const std::string& resume, bool force, const RunConfig& config,
                              dist::Communicator& comm);

// Keys of the resolved config that may change between a run and its resume.
bool resume_may_change(const std::string& key_path);

// micro_batch x accumulation x world size: the samples one optimizer step consumes.
int64_t global_batch(const RunConfig& config, int world_size);

}  // namespace vrwkv::train
