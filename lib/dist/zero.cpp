#include "dist/zero.h"

#include <algorithm>
#include <numeric>

#include "base/error.h"

namespace vrwkv::dist {

std::vector<int> partition_owners(const io::NamedTensors& params, int world_size) {
  VRWKV_CHECK(world_size >= 1, "partition_owners: world size ", world_size, " must be at least 1");
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return params[a].second.numel() > params[b].second.numel(); });
  std::vector<int64_t> load(world_size, 0);
  std::vector<int> owners(params.size(), 0);
  for (size_t i : order) {
    // min_element returns the first minimum: the lowest rank among equally loaded ones.
    int rank = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owners[i] = rank;
    load[rank] += params[i].second.numel();
  }
  return owners;
}

io::NamedTensors owned_by(const io::NamedTensors& params, const std::vector<int>& owners, int rank) {
  VRWKV_CHECK(owners.size() == params.size(), "owned_by: ", owners.size(), " owners for ", params.size(),
              " tensors");
  io::NamedTensors mine;
  for (size_t i = 0; i < params.size(); ++i)
    if (owners[i] == rank) mine.push_back(params[i]);
  return mine;
}

void broadcast_from_owners(Communicator& comm, const io::NamedTensors& params, const std::vector<int>& owners) {
  VRWKV_CHECK(owners.size() == params.size(), "broadcast_from_owners: ", owners.size(), " owners for ",
              params.size(), " tensors");
  for (size_t i = 0; i < owners.size(); ++i)
    VRWKV_CHECK(owners[i] >= 0 && owners[i] < comm.world_size(), "broadcast_from_owners: tensor '",
                params[i].first, "' has owner ", owners[i], ", not a rank of ", comm.world_size());
  if (comm.world_size() == 1) return;
  for (int owner = 0; owner < comm.world_size(); ++owner) {
    std::vector<torch::Tensor> tensors;
    for (size_t i = 0; i < params.size(); ++i)
      if (owners[i] == owner) tensors.push_back(params[i].second);
    // Every rank computes the same owners, so all skip the same empty broadcasts.
    if (!tensors.empty()) comm.broadcast(tensors, owner);
  }
}

}  // namespace vrwkv::dist
