#include "dist/grad_sync.h"

#include <map>
#include <utility>

#include "base/error.h"

namespace vrwkv::dist {

torch::ScalarType accumulation_type(torch::ScalarType param_type) {
  return param_type == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

GradientSync::GradientSync(std::shared_ptr<Communicator> comm, const io::NamedTensors& trainable_params,
                           size_t bucket_bytes)
    : comm_(std::move(comm)), params_(trainable_params) {
  VRWKV_CHECK(comm_, "GradientSync needs a communicator");
  for (const auto& [name, param] : params_) {
    VRWKV_CHECK(param.defined(), "GradientSync: parameter '", name, "' is undefined");
    VRWKV_CHECK(param.requires_grad(), "GradientSync: parameter '", name, "' does not require grad");
    VRWKV_CHECK(param.is_floating_point(), "GradientSync: parameter '", name, "' is ", param.scalar_type(),
                ", not a floating type");
  }

  // Reverse order, one open bucket per (dtype, device); a full bucket is closed and a new one opened.
  slots_.resize(params_.size());
  std::map<std::pair<int, std::string>, size_t> open;
  std::vector<int64_t> numels, offsets(params_.size());
  for (size_t i = params_.size(); i-- > 0;) {
    const auto& param = params_[i].second;
    const auto dtype = accumulation_type(param.scalar_type());
    const auto key = std::make_pair(static_cast<int>(dtype), param.device().str());
    const int64_t bytes = param.numel() * static_cast<int64_t>(c10::elementSize(dtype));
    auto it = open.find(key);
    if (it != open.end() && numels[it->second] * int64_t(c10::elementSize(dtype)) + bytes > int64_t(bucket_bytes)) {
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      buckets_.emplace_back();
      numels.push_back(0);
      it = open.emplace(key, buckets_.size() - 1).first;
    }
    slots_[i].bucket = it->second;
    offsets[i] = numels[it->second];
    numels[it->second] += param.numel();
    buckets_[it->second].params.push_back(i);
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const auto& first = params_[buckets_[b].params.front()].second;
    buckets_[b].buffer = torch::zeros(
        {numels[b]}, torch::TensorOptions().dtype(accumulation_type(first.scalar_type())).device(first.device()));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& param = params_[i].second;
    grads_.push_back(buckets_[slots_[i].bucket].buffer.narrow(0, offsets[i], param.numel()).view(param.sizes()));
  }
  for (size_t i = 0; i < params_.size(); ++i)
    hooks_.push_back(params_[i].second.register_hook([this, i](const torch::Tensor& grad) { on_gradient(i, grad); }));
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < hooks_.size(); ++i) {
    try {
      params_[i].second.remove_hook(hooks_[i]);  // the hooks point at this object
    } catch (...) {
      // destructors must not throw
    }
  }
}

std::vector<std::vector<std::string>> GradientSync::buckets() const {
  std::vector<std::vector<std::string>> names;
  for (const auto& bucket : buckets_) {
    names.emplace_back();
    for (size_t i : bucket.params) names.back().push_back(params_[i].first);
  }
  return names;
}

std::vector<torch::ScalarType> GradientSync::bucket_dtypes() const {
  std::vector<torch::ScalarType> dtypes;
  for (const auto& bucket : buckets_) dtypes.push_back(bucket.buffer.scalar_type());
  return dtypes;
}

void GradientSync::begin_step() {
  std::lock_guard<std::mutex> lock(mutex_);
  VRWKV_CHECK(!armed_, "GradientSync::begin_step() called while armed (finish() first)");
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) bucket.buffer.zero_();
  reset_arrivals();
}

void GradientSync::after_backward() {
  // The hooks added every gradient into its slot; autograd's own copy in .grad is not needed.
  for (auto& [name, param] : params_) param.mutable_grad().reset();
}

void GradientSync::arm() {
  std::lock_guard<std::mutex> lock(mutex_);
  VRWKV_CHECK(!armed_, "GradientSync::arm() called twice without finish()");
  reset_arrivals();
  armed_ = true;
}

void GradientSync::on_gradient(size_t index, const torch::Tensor& incoming) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_ || !incoming.defined()) return;
  // Exceptions stay out of autograd's engine: finish() reports them.
  try {
    const auto& name = params_[index].first;
    VRWKV_CHECK(incoming.layout() == torch::kStrided, "GradientSync: parameter '", name,
                "' has a sparse gradient, which is not supported");
    VRWKV_CHECK(!buckets_[slots_[index].bucket].launched, "GradientSync: parameter '", name,
                "' received a gradient after its bucket was sent; arm() goes before the last backward of a step only");
    torch::NoGradGuard no_grad;
    grads_[index].add_(incoming);  // upcasts a bf16 gradient: the sum stays float32
    if (armed_ && !slots_[index].arrived) {
      arrive(index);
      launch_ready();
    }
  } catch (...) {
    error_ = std::current_exception();
  }
}

void GradientSync::arrive(size_t index) {
  slots_[index].arrived = true;
  ++buckets_[slots_[index].bucket].arrived;
}

// Collectives are matched by issue order, so buckets go strictly in bucket order on every rank.
void GradientSync::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].arrived == buckets_[next_launch_].params.size()) {
    Bucket& bucket = buckets_[next_launch_];
    bucket.launched = true;
    bucket.handle = comm_->all_reduce_sum_async(bucket.buffer);
    ++next_launch_;
  }
}

void GradientSync::reset_arrivals() {
  for (auto& slot : slots_) slot.arrived = false;
  for (auto& bucket : buckets_) {
    bucket.arrived = 0;
    bucket.launched = false;
    bucket.handle = CollectiveHandle();
  }
  next_launch_ = 0;
  error_ = nullptr;
}

void GradientSync::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  VRWKV_CHECK(armed_, "GradientSync::finish() called without arm()");
  armed_ = false;
  try {
    if (error_) std::rethrow_exception(error_);
    // A parameter no gradient reached in the armed backward still sends what it accumulated (or zeros).
    for (size_t i = 0; i < params_.size(); ++i)
      if (!slots_[i].arrived) arrive(i);
    launch_ready();
    VRWKV_CHECK(next_launch_ == buckets_.size(), "GradientSync: internal error, ", buckets_.size() - next_launch_,
                " buckets were not sent");
    for (auto& bucket : buckets_) bucket.handle.wait();
  } catch (...) {
    reset_arrivals();
    throw;
  }
  if (comm_->world_size() > 1) {
    torch::NoGradGuard no_grad;
    for (auto& bucket : buckets_) bucket.buffer.div_(double(comm_->world_size()));
  }
  reset_arrivals();
}

}  // namespace vrwkv::dist
