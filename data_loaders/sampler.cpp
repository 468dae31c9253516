#include "sampler.h"

#include <algorithm>
#include <cmath>

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

std::vector<uint64_t> epoch_permutation(uint64_t n, uint64_t seed, int64_t epoch) {
  std::vector<uint64_t> p(n);
  for (uint64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(epoch) + 1;
  for (uint64_t i = n; i > 1; --i) std::swap(p[i - 1], p[uniform_below(state, i)]);
  return p;
}

HeldOutSplit held_out_split(uint64_t n, double fraction, uint64_t seed) {
  VRWKV_CHECK(fraction > 0 && fraction < 1, "sampler: the held-out fraction must be in (0, 1), got ", fraction);
  const auto held = static_cast<uint64_t>(std::llround(fraction * double(n)));
  VRWKV_CHECK(held >= 1 && held < n, "sampler: a held-out fraction of ", fraction, " of ", n, " samples leaves ", held,
              " for validation and ", n - std::min(held, n), " for training; both need at least one");
  auto p = epoch_permutation(n, seed, -1);
  HeldOutSplit split;
  split.validation.assign(p.begin(), p.begin() + held);
  split.train.assign(p.begin() + held, p.end());
  std::sort(split.validation.begin(), split.validation.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

GlobalOrder::GlobalOrder(uint64_t dataset_size, uint64_t seed) : size_(dataset_size), seed_(seed) {
  VRWKV_CHECK(dataset_size > 0, "sampler: the dataset is empty");
}

GlobalOrder::GlobalOrder(std::vector<uint64_t> members, uint64_t seed)
    : size_(members.size()), seed_(seed), members_(std::move(members)) {
  VRWKV_CHECK(size_ > 0, "sampler: the dataset is empty");
}

const std::vector<uint64_t>& GlobalOrder::epoch(int64_t e) const {
  auto it = cache_.find(e);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= 2) cache_.erase(cache_.begin());  // epochs are visited in increasing order
  return cache_.emplace(e, epoch_permutation(size_, seed_, e)).first->second;
}

uint64_t GlobalOrder::at(uint64_t position) const {
  const uint64_t i = epoch(static_cast<int64_t>(position / size_))[position % size_];
  return members_.empty() ? i : members_[i];
}

std::vector<uint64_t> GlobalOrder::micro_batch(const StepLayout& layout, int64_t start_sample, int64_t k) const {
  VRWKV_CHECK(layout.micro_batch >= 1 && layout.accumulation >= 1 && layout.world_size >= 1 && layout.rank >= 0 &&
                  layout.rank < layout.world_size,
              "sampler: micro batch ", layout.micro_batch, ", accumulation ", layout.accumulation, ", rank ",
              layout.rank, " of world size ", layout.world_size);
  VRWKV_CHECK(start_sample >= 0 && k >= 0, "sampler: negative position");
  const int64_t step = k / layout.accumulation, within = k % layout.accumulation;
  const int64_t first = start_sample + step * layout.global_batch() +
                        (layout.rank * layout.accumulation + within) * layout.micro_batch;
  std::vector<uint64_t> out;
  out.reserve(layout.micro_batch);
  for (int64_t i = 0; i < layout.micro_batch; ++i) out.push_back(at(static_cast<uint64_t>(first + i)));
  return out;
}

}  // namespace vrwkv::data
