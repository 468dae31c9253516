// Deterministic data order: a seeded permutation per epoch, each rank a disjoint strided share of
// it (together the ranks see every sample exactly once per epoch), and a cursor small enough to
// store in a checkpoint so a resumed run sees exactly the batches it would have seen.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

namespace vrwkv::data {

struct SamplerCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // samples of this rank's share already handed out in this epoch

  nlohmann::json to_json() const { return {{"epoch", epoch}, {"position", position}}; }
  static SamplerCursor from_json(const nlohmann::json& j);
  bool operator==(const SamplerCursor& o) const { return epoch == o.epoch && position == o.position; }
};

class Sampler {
 public:
  Sampler(uint64_t dataset_size, uint64_t seed, int rank, int world_size);

  // The sample indices of this rank's share in `epoch`, in order.
  std::vector<uint64_t> epoch_share(int64_t epoch) const { return share_of(epoch); }
  // The size of a rank's share (ranks below dataset_size % world_size get one more).
  uint64_t share_size(int rank) const;

  // The next `count` indices from `cursor` (moving into the next epoch when this one runs out).
  std::vector<uint64_t> take(SamplerCursor& cursor, uint64_t count) const;

 private:
  // The share of `epoch`, computed once per epoch (take() is called for every batch).
  const std::vector<uint64_t>& share_of(int64_t epoch) const;

  uint64_t size_, seed_;
  int rank_, world_size_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<uint64_t> cached_share_;
};

// The permutation of [0, n) for (seed, epoch): Fisher-Yates over splitmix64, so the order is the
// same on every platform and standard library.
std::vector<uint64_t> epoch_permutation(uint64_t n, uint64_t seed, int64_t epoch);

}  // namespace vrwkv::data
