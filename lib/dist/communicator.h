// Collectives between the ranks of a data-parallel run: c10d's TCPStore for the rendezvous, Gloo
// for CPU tensors, NCCL for CUDA tensors. With one process nothing touches the network.
// Every failure (a peer died, a timeout) is a vrwkv::Error naming this rank and the operation.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "dist/dist_env.h"

namespace vrwkv::dist {

// A collective in flight. wait() blocks until it is done (throwing the Communicator's Error when it
// failed); calling it again does nothing. A default-constructed handle is already done.
class CollectiveHandle {
 public:
  struct State;  // defined in communicator.cpp (it holds c10d types)
  CollectiveHandle() = default;
  explicit CollectiveHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void wait();
  bool pending() const { return state_ != nullptr; }

 private:
  std::shared_ptr<State> state_;
};

class Communicator {
 public:
  // world_size 1: no store, no process group, unless torchrun started this one rank (its backend is
  // then exercised as PyTorch's would be). Otherwise rank 0 hosts a TCPStore at
  // env.master_addr:env.master_port, every rank connects (waiting up to `timeout` for the others)
  // and a Gloo (device CPU) or NCCL (device CUDA) process group is made; `timeout` also bounds
  // every collective.
  static std::shared_ptr<Communicator> create(const DistEnv& env, torch::Device device,
                                              std::chrono::milliseconds timeout);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }
  torch::Device device() const { return device_; }
  std::string backend() const;  // "none", "gloo" or "nccl"

  // All ranks must pass the same list (dtypes, shapes, order); tensors live on device().
  // In place: every rank ends with root's values. Small tensors of any dtype travel together as
  // bytes in one flat buffer (up to the coalescing size), so a model is a handful of collectives.
  void broadcast(std::vector<torch::Tensor>& tensors, int root);
  // In place: every rank ends with the element-wise sum over ranks (one flat buffer per dtype;
  // bfloat16 is summed in float32 on Gloo, which has no bfloat16 arithmetic).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  // The sums over ranks of a few host numbers (step statistics): they travel in a tensor on
  // device(), as the backend requires (NCCL reduces CUDA tensors only), and come back to the host.
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
  // Starts summing one contiguous tensor in place; wait on the handle before reading it.
  CollectiveHandle all_reduce_sum_async(const torch::Tensor& tensor);
  // Every rank's string, indexed by rank (any bytes; sizes may differ between ranks). Goes through
  // the rendezvous store and ends with a barrier.
  std::vector<std::string> all_gather_strings(const std::string& mine);
  void barrier();

  // Largest flat buffer that coalescing builds (bigger tensors travel on their own).
  void set_coalesce_bytes(size_t bytes) { coalesce_bytes_ = bytes; }

 private:
  struct Impl;
  Communicator(int rank, int world_size, torch::Device device, std::chrono::milliseconds timeout);
  void check_tensors(const char* op, const std::vector<torch::Tensor>& tensors) const;

  int rank_ = 0, world_size_ = 1;
  torch::Device device_;
  std::chrono::milliseconds timeout_;
  size_t coalesce_bytes_ = size_t(64) << 20;
  uint64_t gather_calls_ = 0;
  std::unique_ptr<Impl> impl_;  // null when world_size is 1
};

}  // namespace vrwkv::dist
