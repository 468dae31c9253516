#include "sampler.h"

#include "base/error.h"

namespace vrwkv::data {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias (rejection of the short last bucket).
uint64_t uniform_below(uint64_t& state, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  for (;;) {
    const uint64_t x = splitmix64(state);
    if (x < limit) return x % bound;
  }
}

}  // namespace

SamplerCursor SamplerCursor::from_json(const nlohmann::json& j) {
  SamplerCursor c;
  c.epoch = j.at("epoch").get<int64_t>();
  c.position = j.at("position").get<int64_t>();
  return c;
}

std::vector<uint64_t> epoch_permutation(uint64_t n, uint64_t seed, int64_t epoch) {
  std::vector<uint64_t> p(n);
  for (uint64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(epoch) + 1;
  for (uint64_t i = n; i > 1; --i) std::swap(p[i - 1], p[uniform_below(state, i)]);
  return p;
}

Sampler::Sampler(uint64_t dataset_size, uint64_t seed, int rank, int world_size)
    : size_(dataset_size), seed_(seed), rank_(rank), world_size_(world_size) {
  VRWKV_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "sampler: rank ", rank, " of world size ", world_size);
  VRWKV_CHECK(dataset_size > 0, "sampler: the dataset is empty");
}

uint64_t Sampler::share_size(int rank) const {
  return size_ / world_size_ + (static_cast<uint64_t>(rank) < size_ % world_size_ ? 1 : 0);
}

const std::vector<uint64_t>& Sampler::share_of(int64_t epoch) const {
  if (epoch != cached_epoch_) {
    const auto perm = epoch_permutation(size_, seed_, epoch);
    cached_share_.clear();
    for (uint64_t i = rank_; i < size_; i += world_size_) cached_share_.push_back(perm[i]);
    cached_epoch_ = epoch;
  }
  return cached_share_;
}

std::vector<uint64_t> Sampler::take(SamplerCursor& cursor, uint64_t count) const {
  std::vector<uint64_t> out;
  out.reserve(count);
  while (out.size() < count) {
    // Each rank streams its own share epoch after epoch; a rank with one sample more simply
    // reaches the next epoch one sample later, and no rank waits for another.
    const auto& share = share_of(cursor.epoch);
    if (static_cast<uint64_t>(cursor.position) >= share.size()) {
      ++cursor.epoch;
      cursor.position = 0;
      continue;
    }
    out.push_back(share[cursor.position++]);
  }
  return out;
}

}  // namespace vrwkv::data
