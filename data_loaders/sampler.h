// Deterministic data order, the same on every rank: one seeded permutation per epoch, the epochs
// laid end to end as one global stream of samples. Optimizer step s consumes the global batch of
// stream positions [s*G, (s+1)*G), G = micro_batch x accumulation x world_size, cut into micro
// batches of micro_batch consecutive positions; rank r trains micro batches r*accumulation ..
// (r+1)*accumulation - 1 of it. So the micro batches depend on the micro batch size alone: any
// split of G into ranks x accumulation trains the same micro batches, and the run's position is
// one number (samples consumed) that any world size can resume from. A dataset smaller than G
// simply wraps into the next epoch: no rank ever has an empty share.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

namespace vrwkv::data {

// How one rank's micro batches sit in the global batch of a step.
struct StepLayout {
  int64_t micro_batch = 1, accumulation = 1;
  int rank = 0, world_size = 1;

  int64_t global_batch() const { return micro_batch * accumulation * world_size; }
};

class GlobalOrder {
 public:
  GlobalOrder(uint64_t dataset_size, uint64_t seed);
  // The order over `members` only (the samples left for training by a held-out split): the
  // permutations run over their positions, at() returns the member.
  GlobalOrder(std::vector<uint64_t> members, uint64_t seed);

  uint64_t dataset_size() const { return size_; }
  // The sample index at global stream position `position` (epoch position / dataset_size).
  uint64_t at(uint64_t position) const;
  // The sample indices of this rank's k-th micro batch after `start_sample` (a step boundary: the
  // cursor a checkpoint stores), in order.
  std::vector<uint64_t> micro_batch(const StepLayout& layout, int64_t start_sample, int64_t k) const;

 private:
  const std::vector<uint64_t>& epoch(int64_t e) const;

  uint64_t size_, seed_;
  std::vector<uint64_t> members_;  // empty: every index of [0, size_)
  // The last two epochs' permutations: a micro batch may straddle an epoch boundary.
  mutable std::map<int64_t, std::vector<uint64_t>> cache_;
};

// data.val_fraction: a seeded choice of round(fraction x n) samples held out for validation, the
// rest left for training; both ascending, disjoint, together [0, n). Its stream (epoch -1) is one no
// training epoch uses. Throws when either part would be empty.
struct HeldOutSplit {
  std::vector<uint64_t> train, validation;
};
HeldOutSplit held_out_split(uint64_t n, double fraction, uint64_t seed);

// The permutation of [0, n) for (seed, epoch): Fisher-Yates over splitmix64, so the order is the
// same on every platform and standard library.
std::vector<uint64_t> epoch_permutation(uint64_t n, uint64_t seed, int64_t epoch);

}  // namespace vrwkv::data
