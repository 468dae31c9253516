#include "dist/grad_sync.h"

#include <map>
#include <utility>

#include "base/error.h"

namespace vrwkv::dist {

GradientSync::GradientSync(std::shared_ptr<Communicator> comm, const io::NamedTensors& trainable_params,
                           size_t bucket_bytes)
    : comm_(std::move(comm)), params_(trainable_params) {
  VRWKV_CHECK(comm_, "GradientSync needs a communicator");
  for (const auto& [name, param] : params_) {
    VRWKV_CHECK(param.defined(), "GradientSync: parameter '", name, "' is undefined");
    VRWKV_CHECK(param.requires_grad(), "GradientSync: parameter '", name, "' does not require grad");
  }
  if (comm_->world_size() == 1) return;  // nothing to average: no buckets, no hooks

  // Reverse order, one open bucket per (dtype, device); a full bucket is closed and a new one opened.
  slots_.resize(params_.size());
  std::map<std::pair<int, std::string>, size_t> open;
  std::vector<int64_t> numels;
  for (size_t i = params_.size(); i-- > 0;) {
    const auto& param = params_[i].second;
    const auto key = std::make_pair(static_cast<int>(param.scalar_type()), param.device().str());
    const int64_t bytes = param.numel() * static_cast<int64_t>(param.element_size());
    auto it = open.find(key);
    if (it != open.end() && buckets_[it->second].bytes + bytes > static_cast<int64_t>(bucket_bytes)) {
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      buckets_.emplace_back();
      numels.push_back(0);
      it = open.emplace(key, buckets_.size() - 1).first;
    }
    Bucket& bucket = buckets_[it->second];
    slots_[i].bucket = it->second;
    slots_[i].offset = numels[it->second];
    numels[it->second] += param.numel();
    bucket.params.push_back(i);
    bucket.bytes += bytes;
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const auto& first = params_[buckets_[b].params.front()].second;
    buckets_[b].buffer =
        torch::zeros({numels[b]}, torch::TensorOptions().dtype(first.scalar_type()).device(first.device()));
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

torch::Tensor GradientSync::slice(size_t index) const {
  const auto& param = params_[index].second;
  const Slot& slot = slots_[index];
  return buckets_[slot.bucket].buffer.narrow(0, slot.offset, param.numel()).view(param.sizes());
}

void GradientSync::arm() {
  if (comm_->world_size() == 1) return;
  std::lock_guard<std::mutex> lock(mutex_);
  VRWKV_CHECK(!armed_, "GradientSync::arm() called twice without finish()");
  reset_step();
  armed_ = true;
}

void GradientSync::on_gradient(size_t index, const torch::Tensor& incoming) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!armed_ || error_) return;
  // Exceptions stay out of autograd's engine: finish() reports them.
  try {
    arrive(index, incoming);
    launch_ready();
  } catch (...) {
    error_ = std::current_exception();
  }
}

// The fully accumulated gradient of parameter `index`: what .grad will hold once this backward's
// `incoming` is added (the hook runs before autograd accumulates it).
void GradientSync::arrive(size_t index, const torch::Tensor& incoming) {
  torch::NoGradGuard no_grad;
  const auto& [name, param] = params_[index];
  Slot& slot = slots_[index];
  Bucket& bucket = buckets_[slot.bucket];
  VRWKV_CHECK(!bucket.launched, "GradientSync: parameter '", name,
              "' received a gradient after its bucket was sent; arm() goes before the last backward of a step only");
  auto target = slice(index);
  if (slot.arrived) {  // a second backward while armed: keep accumulating
    if (incoming.defined()) target.add_(incoming);
    return;
  }
  VRWKV_CHECK(!incoming.defined() || incoming.layout() == torch::kStrided, "GradientSync: parameter '", name,
              "' has a sparse gradient, which is not supported");
  const auto& accumulated = param.grad();
  if (accumulated.defined() && incoming.defined()) {
    torch::add_out(target, accumulated, incoming);  // one pass over memory
  } else if (accumulated.defined()) {
    target.copy_(accumulated);
  } else if (incoming.defined()) {
    target.copy_(incoming);
  } else {
    target.zero_();
  }
  slot.arrived = true;
  ++bucket.arrived;
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

void GradientSync::reset_step() {
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
  if (comm_->world_size() == 1) return;
  std::lock_guard<std::mutex> lock(mutex_);
  VRWKV_CHECK(armed_, "GradientSync::finish() called without arm()");
  armed_ = false;
  try {
    if (error_) std::rethrow_exception(error_);
    for (size_t i = 0; i < params_.size(); ++i)
      if (!slots_[i].arrived) arrive(i, torch::Tensor());
    launch_ready();
    VRWKV_CHECK(next_launch_ == buckets_.size(), "GradientSync: internal error, ", buckets_.size() - next_launch_,
                " buckets were not sent");
    for (auto& bucket : buckets_) bucket.handle.wait();
  } catch (...) {
    reset_step();
    throw;
  }
  torch::NoGradGuard no_grad;
  const double world = comm_->world_size();
  for (auto& bucket : buckets_) bucket.buffer.div_(world);
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& param = params_[i].second;
    auto averaged = slice(i);
    if (param.grad().defined())
      param.mutable_grad().copy_(averaged);
    else
      param.mutable_grad() = averaged.clone();
  }
  reset_step();
}

}  // namespace vrwkv::dist
