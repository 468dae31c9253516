// Gradient accumulation over micro batches and data-parallel averaging that overlaps the backward
// pass (DDP-style buckets), in float32 whatever the parameters' dtype (float64 for float64 ones):
// bf16 models neither sum micro batches nor ranks in bf16.
//
//   sync.begin_step();     // zero the accumulators
//   loss.backward();       // each micro batch: hooks add every parameter's gradient into its slot
//   sync.after_backward(); // drop the parameters' own .grad (the slots hold the gradient)
//   sync.arm();            // before the backward of the LAST micro batch of the step: a bucket's
//   loss.backward();       // all-reduce starts as soon as its last gradient arrived
//   sync.after_backward();
//   sync.finish();         // waits; gradients() hold the average over ranks of the accumulated sums
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

// float64 stays float64; every other floating type accumulates in float32.
torch::ScalarType accumulation_type(torch::ScalarType param_type);

class GradientSync {
 public:
  // Buckets are formed in reverse parameter order (roughly the order backward produces the
  // gradients), one accumulation dtype and device per bucket, each up to `bucket_bytes` of that
  // dtype (a larger tensor gets a bucket of its own). Every rank must pass the same parameters in
  // the same order.
  GradientSync(std::shared_ptr<Communicator> comm, const io::NamedTensors& trainable_params,
               size_t bucket_bytes = size_t(25) << 20);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  void begin_step();
  void after_backward();
  void arm();
  // Sends what has not been sent, waits for every bucket and averages over ranks. Disarms. An error
  // from a hook or a collective is thrown here.
  void finish();

  bool armed() const { return armed_; }
  // One float32 (float64) tensor per parameter, aligned with the parameters given: the gradient of
  // the step after finish(). Views into the buckets: scaling them in place (clipping) is fine.
  const std::vector<torch::Tensor>& gradients() const { return grads_; }
  // The parameter names of each bucket, in launch order, and the buckets' dtypes (tests and logs).
  std::vector<std::vector<std::string>> buckets() const;
  std::vector<torch::ScalarType> bucket_dtypes() const;

 private:
  struct Bucket {
    torch::Tensor buffer;        // flat, the accumulation dtype, the parameters' device
    std::vector<size_t> params;  // indices into params_
    size_t arrived = 0;
    bool launched = false;
    CollectiveHandle handle;
  };
  struct Slot {
    size_t bucket = 0;
    bool arrived = false;  // in the armed backward
  };

  void on_gradient(size_t index, const torch::Tensor& incoming);
  void arrive(size_t index);
  void launch_ready();
  void reset_arrivals();

  std::shared_ptr<Communicator> comm_;
  io::NamedTensors params_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  std::vector<torch::Tensor> grads_;
  std::vector<unsigned> hooks_;
  size_t next_launch_ = 0;
  bool armed_ = false;
  std::exception_ptr error_;  // raised in a hook; rethrown by finish() instead of inside autograd
  std::mutex mutex_;          // hooks of CUDA parameters run on autograd's device threads
};

}  // namespace vrwkv::dist
