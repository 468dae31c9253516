// Validation loss: the mean of the validation samples' own losses (model/loss.h per_sample_loss),
// the same number on any number of ranks. The set is cut into fixed micro batches of
// train.micro_batch_size consecutive positions, micro batch j computed by rank j mod world size;
// each sample's loss lands in its own slot of a zero-filled vector, one all-reduce sums the slots,
// and the mean is taken over the slots in position order, so neither the sharding nor the order of
// additions depends on the world size.
#pragma once
#include <torch/torch.h>

#include <cstdint>

#include "config/run_config.h"
#include "dist/communicator.h"
#include "train/train_model.h"
#include "train/batch_source.h"

namespace vrwkv::train {

struct ValidationResult {
  double loss = 0;        // mean over the samples with at least one target
  int64_t samples = 0;    // those samples, all ranks
  int64_t skipped = 0;    // bad samples left out, all ranks, this pass
};

// Every rank calls this together (it holds collectives).
ValidationResult validation_loss(const TrainModel& model, ValidationSet& set, const RunConfig& config,
                                 dist::Communicator& comm, torch::Device device);

}  // namespace vrwkv::train
