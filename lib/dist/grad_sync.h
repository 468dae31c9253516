// Data-parallel gradient averaging that overlaps the backward pass (DDP-style buckets).
//
//   sync.arm();            // before the backward of the LAST micro-batch of an optimizer step
//   loss.backward();       // hooks pack each finished gradient (.grad + incoming) into its bucket
//                          // and start the bucket's all-reduce as soon as the bucket is full
//   sync.finish();         // waits; every param.grad() now holds the average over ranks
//
// Earlier micro-batches accumulate locally into .grad as usual (no communication).
#pragma once
#include <torch/torch.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "io/named_tensors.h"

namespace vrwkv::dist {

class GradientSync {
 public:
  // Buckets are formed in reverse parameter order (roughly the order backward produces the
  // gradients), one dtype and device per bucket, each up to `bucket_bytes` (a larger tensor gets a
  // bucket of its own). Every rank must pass the same parameters in the same order.
  GradientSync(std::shared_ptr<Communicator> comm, const io::NamedTensors& trainable_params,
               size_t bucket_bytes = size_t(25) << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  void arm();
  // Sends what has not been sent (a parameter without a gradient this step contributes its .grad,
  // or zeros), waits for every bucket, and writes the average into each param.grad() (allocating
  // it when undefined). Disarms. An error from a hook or a collective is thrown here.
  void finish();

  bool armed() const { return armed_; }
  // The parameter names of each bucket, in launch order (for tests and logs).
  std::vector<std::vector<std::string>> buckets() const;

 private:
  struct Bucket {
    torch::Tensor buffer;        // flat, the bucket's dtype and device
    std::vector<size_t> params;  // indices into params_
    int64_t bytes = 0;
    size_t arrived = 0;
    bool launched = false;
    CollectiveHandle handle;
  };
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  // in elements, inside the bucket's buffer
    bool arrived = false;
  };

  void on_gradient(size_t index, const torch::Tensor& incoming);
  torch::Tensor slice(size_t index) const;
  void arrive(size_t index, const torch::Tensor& incoming);
  void launch_ready();
  void reset_step();

  std::shared_ptr<Communicator> comm_;
  io::NamedTensors params_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  std::vector<unsigned> hooks_;
  size_t next_launch_ = 0;
  bool armed_ = false;
  std::exception_ptr error_;  // raised in a hook; rethrown by finish() instead of inside autograd
  std::mutex mutex_;          // hooks of CUDA parameters run on autograd's device threads
};

}  // namespace vrwkv::dist
