#include "dist/communicator.h"

#include <algorithm>
#include <functional>
#include <iomanip>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <utility>

#include "base/error.h"
#include "dist/c10d_compat.h"

namespace vrwkv::dist {
namespace {

using Clock = std::chrono::steady_clock;

// Work::wait gets the collective timeout plus this, a safety net behind the backend's own timeout.
constexpr auto kWaitGrace = std::chrono::seconds(5);
// Offsets inside a packed byte buffer stay aligned so that every dtype can be viewed in place.
constexpr int64_t kPackAlign = 16;

std::string first_line(std::string text) {
  auto newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text.empty() ? std::string("(no message)") : text;
}

// c10::Error's what() carries a C++ backtrace; the first line of the plain message is what helps.
std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return first_line(c10_error->what_without_backtrace());
  return first_line(e.what());
}

std::string seconds(double s) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(s < 10 ? 2 : 1) << s;
  return os.str();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t nbytes(const torch::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

int64_t align_up(int64_t n) { return (n + kPackAlign - 1) / kPackAlign * kPackAlign; }

// What the Communicator and its in-flight handles share. After the first failure every later
// collective refuses at once instead of queueing behind a broken process group.
struct Shared {
  int rank = 0;
  std::chrono::milliseconds timeout{0};
  std::mutex mutex;
  std::string failure;
};

[[noreturn]] void fail(Shared& shared, const std::string& op, Clock::time_point started, const std::string& cause) {
  std::string message = cat("rank ", shared.rank, ": ", op, " failed after ", seconds(seconds_since(started)),
                            " s: ", cause, " \u2014 a peer rank may have died (or did not join within the ",
                            seconds(shared.timeout.count() / 1000.0), " s timeout)");
  {
    std::lock_guard<std::mutex> lock(shared.mutex);
    if (shared.failure.empty()) shared.failure = message;
  }
  throw Error(message);
}

void check_usable(Shared& shared, const std::string& op) {
  std::lock_guard<std::mutex> lock(shared.mutex);
  if (!shared.failure.empty())
    throw Error(cat("rank ", shared.rank, ": ", op, " refused: the communicator failed earlier (", shared.failure,
                    ")"));
}

// Groups tensors (by index) into collectives: one tensor of `cap` bytes or more travels alone,
// smaller ones are packed together up to `cap`. Empty tensors need no collective.
std::vector<std::vector<size_t>> plan_chunks(const std::vector<torch::Tensor>& tensors,
                                             const std::vector<size_t>& indices, size_t cap) {
  std::vector<std::vector<size_t>> chunks;
  std::vector<size_t> current;
  int64_t current_bytes = 0;
  for (size_t i : indices) {
    int64_t bytes = nbytes(tensors[i]);
    if (bytes == 0) continue;
    if (bytes >= static_cast<int64_t>(cap)) {
      chunks.push_back({i});
      continue;
    }
    if (!current.empty() && current_bytes + align_up(bytes) > static_cast<int64_t>(cap)) {
      chunks.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += align_up(bytes);
  }
  if (!current.empty()) chunks.push_back(std::move(current));
  return chunks;
}

// A contiguous tensor's memory as a flat uint8 tensor (shares storage).
torch::Tensor as_bytes(const torch::Tensor& contiguous) { return contiguous.reshape({-1}).view(torch::kUInt8); }

}  // namespace

struct CollectiveHandle::State {
  std::shared_ptr<Shared> shared;
  std::string op;
  Clock::time_point started;
  c10::intrusive_ptr<c10d::Work> work;
  std::function<void()> on_done;  // copies results out of a staging buffer
};

void CollectiveHandle::wait() {
  if (!state_) return;
  std::shared_ptr<State> state = std::move(state_);
  state_.reset();
  bool completed = false;
  try {
    completed = state->work->wait(state->shared->timeout + kWaitGrace);
  } catch (const std::exception& e) {
    fail(*state->shared, state->op, state->started, message_of(e));
  }
  if (!completed) fail(*state->shared, state->op, state->started, "the collective did not complete in time");
  if (state->on_done) state->on_done();
}

struct Communicator::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dBackend> group;
  std::string backend;
  std::mutex issue_mutex;  // backends match collectives by issue order: issue one at a time

  ~Impl() {
    // After a failure the group may still hold collectives that end only at their timeout, one
    // after the other, and destroying it waits for all of them. The process is about to report the
    // error and exit, so let it go instead of hanging in a destructor.
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (!shared->failure.empty()) {
      (void)group.release();
      (void)store.release();
    }
  }

  // Gloo cannot sum bfloat16 (1.13 rejects it): those sums run in float32 and are rounded back.
  torch::ScalarType reduce_type(torch::ScalarType dtype) const {
    return backend == "gloo" && dtype == torch::kBFloat16 ? torch::kFloat32 : dtype;
  }

  using Launch = std::function<c10::intrusive_ptr<c10d::Work>(compat::C10dBackend&)>;

  CollectiveHandle start(const std::string& op, const Launch& launch, std::function<void()> on_done = {}) {
    check_usable(*shared, op);
    auto state = std::make_shared<CollectiveHandle::State>();
    state->shared = shared;
    state->op = op;
    state->started = Clock::now();
    state->on_done = std::move(on_done);
    try {
      std::lock_guard<std::mutex> lock(issue_mutex);
      state->work = launch(*group);
    } catch (const std::exception& e) {
      // Usually a bad argument, but this rank's peers now wait for a collective that never comes.
      std::string message = cat("rank ", shared->rank, ": ", op, " could not be started: ", message_of(e));
      {
        std::lock_guard<std::mutex> lock(shared->mutex);
        if (shared->failure.empty()) shared->failure = message;
      }
      throw Error(message);
    }
    return CollectiveHandle(std::move(state));
  }

  CollectiveHandle all_reduce(const std::string& op, torch::Tensor tensor, std::function<void()> on_done = {}) {
    return start(op, [tensor](compat::C10dBackend& g) mutable {
      std::vector<at::Tensor> tensors{tensor};
      return g.allreduce(tensors, c10d::AllreduceOptions());
    }, std::move(on_done));
  }

  CollectiveHandle broadcast(torch::Tensor tensor, int root, std::function<void()> on_done = {}) {
    return start("broadcast", [tensor, root](compat::C10dBackend& g) mutable {
      std::vector<at::Tensor> tensors{tensor};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      return g.broadcast(tensors, options);
    }, std::move(on_done));
  }
};

Communicator::Communicator(int rank, int world_size, torch::Device device, std::chrono::milliseconds timeout)
    : rank_(rank), world_size_(world_size), device_(device), timeout_(timeout) {}

Communicator::~Communicator() = default;

std::string Communicator::backend() const { return impl_ ? impl_->backend : std::string("none"); }

std::shared_ptr<Communicator> Communicator::create(const DistEnv& env, torch::Device device,
                                                   std::chrono::milliseconds timeout) {
  VRWKV_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
              "invalid distributed setup: rank ", env.rank, " of world size ", env.world_size);
  VRWKV_CHECK(timeout.count() > 0, "rank ", env.rank, ": the collective timeout must be positive");
  VRWKV_CHECK(device.is_cpu() || device.is_cuda(), "rank ", env.rank, ": distributed training runs on CPU or CUDA, not ",
              device.str());
  if (device.is_cuda() && !device.has_index()) device = torch::Device(torch::kCUDA, env.local_rank);
  std::shared_ptr<Communicator> comm(new Communicator(env.rank, env.world_size, device, timeout));
  // Nothing to talk to: every collective is the identity. A torchrun launch of one rank still gets
  // its process group, as PyTorch's would (and the GPU check exercises NCCL that way).
  if (env.world_size == 1 && env.launcher != "torchrun") return comm;

  auto impl = std::make_unique<Impl>();
  impl->shared->rank = env.rank;
  impl->shared->timeout = timeout;
  const bool host = env.rank == 0;
  const std::string where = cat(env.master_addr, ":", env.master_port);
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(
        env.master_addr, compat::tcp_store_options(env.master_port, host, env.world_size, timeout));
  } catch (const std::exception& e) {
    throw Error(cat("rank ", env.rank, ": could not ", host ? "host" : "join", " the rendezvous at ", where,
                    " (MASTER_ADDR:MASTER_PORT) within ", seconds(timeout.count() / 1000.0), " s: ", message_of(e),
                    host ? " \u2014 is the port already in use?"
                         : " \u2014 is rank 0 running, with the same MASTER_ADDR/MASTER_PORT on every rank?"));
  }

  // Our own count of arrivals: 1.13's TCPStore gives up waiting for workers without an error.
  try {
    const std::string joined = "vrwkv/joined";
    const auto deadline = Clock::now() + timeout;
    int64_t count = impl->store->add(joined, 1);
    while (count < env.world_size && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      count = impl->store->add(joined, 0);
    }
    VRWKV_CHECK(count >= env.world_size, "rank ", env.rank, ": only ", count, " of ", env.world_size,
                " ranks joined the rendezvous at ", where, " within ", seconds(timeout.count() / 1000.0),
                " s \u2014 did every rank start, with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE?");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat("rank ", env.rank, ": the rendezvous at ", where, " failed: ", message_of(e)));
  }

  try {
    if (device.is_cpu()) {
#if VRWKV_WITH_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface as in PyTorch; a loopback master means one machine.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      options->threads = 2;
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, options);
      impl->backend = "gloo";
#else
      throw Error("this libtorch has no Gloo (USE_C10D_GLOO): distributed CPU training is unavailable");
#endif
    } else {
#if VRWKV_WITH_NCCL
      compat::prefer_blocking_nccl_wait();
      c10::cuda::set_device(device.index());
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, options);
      impl->backend = "nccl";
#else
      throw Error("this libtorch has no NCCL (USE_C10D_NCCL): distributed CUDA training is unavailable");
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat("rank ", env.rank, ": creating the ", device.is_cpu() ? "Gloo" : "NCCL", " process group of ",
                    env.world_size, " ranks (rendezvous ", where, ") failed: ", message_of(e),
                    " \u2014 a peer rank may have died"));
  }
  comm->impl_ = std::move(impl);
  // Every rank is past its process group's rendezvous (its last use of rank 0's store) before any
  // goes on; with NCCL this also builds the communicators now rather than in the first step.
  comm->barrier();
  return comm;
}

void Communicator::check_tensors(const char* op, const std::vector<torch::Tensor>& tensors) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    VRWKV_CHECK(t.defined(), "rank ", rank_, ": ", op, ": tensor ", i, " is undefined");
    VRWKV_CHECK(t.layout() == torch::kStrided, "rank ", rank_, ": ", op, ": tensor ", i, " is not dense");
    VRWKV_CHECK(t.device() == device_, "rank ", rank_, ": ", op, ": tensor ", i, " is on ", t.device().str(),
                ", the communicator on ", device_.str());
  }
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  check_tensors("broadcast", tensors);
  VRWKV_CHECK(root >= 0 && root < world_size_, "rank ", rank_, ": broadcast from rank ", root,
              ", which is not a rank of ", world_size_);
  if (!impl_) return;
  torch::NoGradGuard no_grad;
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::vector<CollectiveHandle> handles;
  for (const auto& chunk : plan_chunks(tensors, order, coalesce_bytes_)) {
    if (chunk.size() == 1 && tensors[chunk[0]].is_contiguous()) {
      // As bytes: Gloo has no bfloat16, and a broadcast does not care about the dtype.
      handles.push_back(impl_->broadcast(as_bytes(tensors[chunk[0]].detach()), root));
      continue;
    }
    // Broadcast only copies bytes, so tensors of every dtype share one packed buffer.
    std::vector<int64_t> offsets;
    int64_t total = 0;
    for (size_t i : chunk) {
      offsets.push_back(total);
      total += align_up(nbytes(tensors[i]));
    }
    auto buffer = torch::empty({total}, torch::TensorOptions().dtype(torch::kUInt8).device(device_));
    if (rank_ == root)
      for (size_t k = 0; k < chunk.size(); ++k)
        buffer.narrow(0, offsets[k], nbytes(tensors[chunk[k]])).copy_(as_bytes(tensors[chunk[k]].detach().contiguous()));
    std::function<void()> unpack;
    if (rank_ != root)
      unpack = [&tensors, chunk, offsets, buffer]() {
        torch::NoGradGuard no_grad;
        for (size_t k = 0; k < chunk.size(); ++k) {
          auto& t = tensors[chunk[k]];
          t.detach().copy_(buffer.narrow(0, offsets[k], nbytes(t)).view(t.scalar_type()).view(t.sizes()));
        }
      };
    handles.push_back(impl_->broadcast(buffer, root, std::move(unpack)));
  }
  for (auto& handle : handles) handle.wait();
}

void Communicator::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  check_tensors("all_reduce", tensors);
  if (!impl_) return;
  torch::NoGradGuard no_grad;
  // One group per dtype, in order of first appearance (the same on every rank).
  std::vector<torch::ScalarType> dtypes;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto dtype = tensors[i].scalar_type();
    auto it = std::find(dtypes.begin(), dtypes.end(), dtype);
    if (it == dtypes.end()) {
      dtypes.push_back(dtype);
      groups.emplace_back();
      it = dtypes.end() - 1;
    }
    groups[it - dtypes.begin()].push_back(i);
  }
  std::vector<CollectiveHandle> handles;
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto reduce_type = impl_->reduce_type(dtypes[g]);
    for (const auto& chunk : plan_chunks(tensors, groups[g], coalesce_bytes_)) {
      if (chunk.size() == 1 && tensors[chunk[0]].is_contiguous() && reduce_type == dtypes[g]) {
        handles.push_back(impl_->all_reduce("all_reduce", tensors[chunk[0]].detach()));
        continue;
      }
      std::vector<int64_t> offsets;
      int64_t total = 0;
      for (size_t i : chunk) {
        offsets.push_back(total);
        total += tensors[i].numel();
      }
      auto flat = torch::empty({total}, torch::TensorOptions().dtype(reduce_type).device(device_));
      for (size_t k = 0; k < chunk.size(); ++k)
        flat.narrow(0, offsets[k], tensors[chunk[k]].numel()).copy_(tensors[chunk[k]].detach().reshape({-1}));
      auto unpack = [&tensors, chunk, offsets, flat]() {
        torch::NoGradGuard no_grad;
        for (size_t k = 0; k < chunk.size(); ++k) {
          auto& t = tensors[chunk[k]];
          t.detach().copy_(flat.narrow(0, offsets[k], t.numel()).view(t.sizes()));
        }
      };
      handles.push_back(impl_->all_reduce("all_reduce", flat, unpack));
    }
  }
  for (auto& handle : handles) handle.wait();
}

std::vector<double> Communicator::all_reduce_sum(const std::vector<double>& values) {
  if (!impl_ || values.empty()) return values;
  std::vector<torch::Tensor> t{
      torch::tensor(values, torch::kFloat64).to(device_)};
  all_reduce_sum(t);
  const auto host = t[0].cpu();
  return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
}

CollectiveHandle Communicator::all_reduce_sum_async(const torch::Tensor& tensor) {
  check_tensors("all_reduce", {tensor});
  VRWKV_CHECK(tensor.is_contiguous(), "rank ", rank_, ": all_reduce_sum_async needs a contiguous tensor");
  if (!impl_ || tensor.numel() == 0) return {};
  const auto reduce_type = impl_->reduce_type(tensor.scalar_type());
  if (reduce_type == tensor.scalar_type()) return impl_->all_reduce("all_reduce", tensor.detach());
  auto staged = tensor.detach().to(reduce_type);
  return impl_->all_reduce("all_reduce", staged, [tensor, staged]() {
    torch::NoGradGuard no_grad;
    tensor.detach().copy_(staged);
  });
}

void Communicator::barrier() {
  if (!impl_) return;
  // A one-element all-reduce: the same code path (and error handling) on Gloo and NCCL.
  auto token = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  impl_->all_reduce("barrier", token).wait();
}

std::vector<std::string> Communicator::all_gather_strings(const std::string& mine) {
  if (!impl_) return {mine};
  const std::string op = "all_gather_strings";
  check_usable(*impl_->shared, op);
  // Through the store: no device buffers, and any bytes of any length.
  const uint64_t call = gather_calls_++;
  auto key = [](uint64_t c, int r) { return cat("vrwkv/all_gather_strings/", c, "/", r); };
  const auto started = Clock::now();
  std::vector<std::string> all(world_size_);
  try {
    impl_->store->set(key(call, rank_), std::vector<uint8_t>(mine.begin(), mine.end()));
    for (int r = 0; r < world_size_; ++r) {
      if (r == rank_) {
        all[r] = mine;
        continue;
      }
      auto bytes = impl_->store->get(key(call, r));
      all[r].assign(bytes.begin(), bytes.end());
    }
    // Every rank has now written this call's key, so each has read all of the previous call's.
    if (call > 0) impl_->store->deleteKey(key(call - 1, rank_));
  } catch (const std::exception& e) {
    fail(*impl_->shared, op, started, message_of(e));
  }
  // Nobody leaves (rank 0 perhaps exiting and taking the store with it) before all have read.
  barrier();
  return all;
}

}  // namespace vrwkv::dist
