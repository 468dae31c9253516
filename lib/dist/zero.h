// ZeRO stage 1: each rank keeps optimizer state (AdamW moments, master weights) only for the
// tensors it owns, updates those, then broadcasts them so every rank holds the whole model.
#pragma once
#include <vector>

#include "dist/communicator.h"
#include "io/named_tensors.h"

namespace vrwkv::dist {

// Owner rank of each tensor (whole tensors, never split), balancing element counts: largest first
// to the least loaded rank (ties: the earlier tensor, the lower rank). The same on every rank.
std::vector<int> partition_owners(const io::NamedTensors& params, int world_size);

// The tensors that `rank` owns, in their original order (what its optimizer is built with).
io::NamedTensors owned_by(const io::NamedTensors& params, const std::vector<int>& owners, int rank);

// After each rank updated the tensors it owns: every rank gets every updated tensor, in place
// (one coalesced broadcast per owner rank).
void broadcast_from_owners(Communicator& comm, const io::NamedTensors& params, const std::vector<int>& owners);

}  // namespace vrwkv::dist
