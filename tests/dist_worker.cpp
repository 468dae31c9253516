// One rank of the multi-process tests in test_dist.cpp. Reads RANK / WORLD_SIZE / MASTER_ADDR /
// MASTER_PORT like the trainer does, runs one scenario on CPU (Gloo) and writes what it observed to
// <scratch_dir>/<scenario>.rank<R>.json; test_dist.cpp computes the expected values itself.
//
//   vrwkv_dist_worker <scenario> <scratch_dir> [timeout_ms]
//   scenarios: collectives, gradsync, zero, strings, die, hang
//   exit codes: 0 done, 1 a self-check failed, 2 vrwkv::Error (message on stderr), 3 the rank
//   that "dies" in the die scenario, 4 any other exception
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "dist/communicator.h"
#include "dist/dist_env.h"
#include "dist/grad_sync.h"
#include "dist/zero.h"
#include "dist_test_patterns.h"

namespace {

using json = nlohmann::json;
using vrwkv::dist::Communicator;
namespace pat = vrwkv::test::dist;

std::vector<double> values_of(const torch::Tensor& t) {
  auto flat = t.detach().to(torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

json values_of(const std::vector<torch::Tensor>& tensors) {
  json out = json::array();
  for (const auto& t : tensors) out.push_back(values_of(t));
  return out;
}

std::vector<torch::Tensor> fresh_tensors(int rank) {
  std::vector<torch::Tensor> tensors;
  auto specs = pat::collective_specs();
  for (size_t k = 0; k < specs.size(); ++k) tensors.push_back(pat::make_tensor(specs[k], k, rank));
  return tensors;
}

// Collectives must work in place: the tensors keep their storage.
bool same_storage(const std::vector<torch::Tensor>& tensors, const std::vector<void*>& before) {
  for (size_t k = 0; k < tensors.size(); ++k)
    if (tensors[k].data_ptr() != before[k]) return false;
  return true;
}

std::vector<void*> pointers(const std::vector<torch::Tensor>& tensors) {
  std::vector<void*> out;
  for (const auto& t : tensors) out.push_back(t.data_ptr());
  return out;
}

void collectives(Communicator& comm, json& out) {
  const int rank = comm.rank(), world = comm.world_size();
  bool in_place = true;
  auto run = [&](const char* name, size_t coalesce, bool reduce, int root) {
    comm.set_coalesce_bytes(coalesce);
    auto tensors = fresh_tensors(rank);
    auto before = pointers(tensors);
    if (reduce)
      comm.all_reduce_sum(tensors);
    else
      comm.broadcast(tensors, root);
    in_place = in_place && same_storage(tensors, before);
    out[name] = values_of(tensors);
    json dtypes = json::array();
    for (const auto& t : tensors) dtypes.push_back(std::string(c10::toString(t.scalar_type())));
    out[std::string(name) + "_dtypes"] = dtypes;
  };
  run("broadcast_from_last", size_t(64) << 20, false, world - 1);
  run("broadcast_from_0_small_buffers", 64, false, 0);
  run("sum", size_t(64) << 20, true, 0);
  run("sum_small_buffers", 64, true, 0);
  run("sum_one_per_tensor", 1, true, 0);
  out["in_place"] = in_place;

  // The asynchronous form on one tensor, waited twice (the second wait does nothing).
  auto t = pat::make_tensor({torch::kFloat32, {6}}, 20, rank);
  auto handle = comm.all_reduce_sum_async(t);
  handle.wait();
  handle.wait();
  out["sum_async"] = values_of(t);

  // A leaf that requires grad (a model parameter) is updated in place too.
  auto leaf = pat::make_tensor({torch::kFloat32, {4}}, 21, rank).requires_grad_(true);
  std::vector<torch::Tensor> leaves{leaf};
  comm.broadcast(leaves, 1);
  out["broadcast_leaf_from_1"] = values_of(leaf);
  comm.barrier();
}

// A small model with a float64 parameter (its own bucket dtype), a bf16 one (accumulated and
// reduced in float32 with the float32 ones), one used only by the first micro-batch and one never used.
struct Net : torch::nn::Module {
  torch::nn::Linear l1{nullptr}, l2{nullptr}, l3{nullptr};
  torch::Tensor scale, first_only, unused, bias16;
  Net() {
    l1 = register_module("l1", torch::nn::Linear(4, 8));
    l2 = register_module("l2", torch::nn::Linear(8, 8));
    l3 = register_module("l3", torch::nn::Linear(8, 3));
    scale = register_parameter("scale", torch::linspace(0.5, 1.5, 3, torch::kFloat64));
    first_only = register_parameter("first_only", torch::zeros({3}));
    unused = register_parameter("unused", torch::zeros({2, 2}));
    bias16 = register_parameter("bias16", torch::full({3}, 0.1).to(torch::kBFloat16));
  }
  torch::Tensor forward(const torch::Tensor& x, bool first) {
    auto h = torch::tanh(l2(torch::tanh(l1(x))));
    auto y = l3(h) * scale.to(torch::kFloat32) + bias16.to(torch::kFloat32);
    return first ? y + first_only : y;
  }
};

vrwkv::io::NamedTensors named_params(Net& net) {
  vrwkv::io::NamedTensors out;
  for (const auto& item : net.named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

// Micro-batch `micro` of rank `rank` in optimizer step `step`: every rank can recreate anyone's.
torch::Tensor micro_loss(Net& net, int step, int rank, int micro) {
  torch::manual_seed(1000 + 100 * step + 10 * rank + micro);
  auto x = torch::randn({5, 4});
  auto target = torch::randn({5, 3});
  return torch::mse_loss(net.forward(x, micro == 0), target);
}

void gradsync(Communicator& comm, const std::shared_ptr<Communicator>& shared, json& out) {
  const int rank = comm.rank(), world = comm.world_size();
  bool ok = true;
  for (size_t bucket_bytes : {size_t(64), size_t(25) << 20}) {
    torch::manual_seed(42);
    Net net;
    torch::manual_seed(42);
    Net reference;
    auto params = named_params(net), ref_params = named_params(reference);
    vrwkv::dist::GradientSync sync(shared, params, bucket_bytes);
    json config;
    config["buckets"] = sync.buckets();
    for (int step = 0; step < 2; ++step) {
      sync.begin_step();
      micro_loss(net, step, rank, 0).backward();  // accumulates locally
      sync.after_backward();
      sync.arm();
      micro_loss(net, step, rank, 1).backward();
      sync.after_backward();
      sync.finish();
      ok = ok && !sync.armed();
      // The single-process answer: every rank's micro-batch gradients summed in float64, divided by
      // the world size. A bf16 running sum would miss it by bf16 rounding (~1e-3).
      std::vector<torch::Tensor> ref_tensors;
      for (const auto& [name, p] : ref_params) ref_tensors.push_back(p);
      std::vector<torch::Tensor> expected(params.size());
      for (int r = 0; r < world; ++r)
        for (int micro = 0; micro < 2; ++micro) {
          const auto g = torch::autograd::grad({micro_loss(reference, step, r, micro)}, ref_tensors, {},
                                               /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
          for (size_t i = 0; i < g.size(); ++i)
            if (g[i].defined()) expected[i] = expected[i].defined() ? expected[i] + g[i].to(torch::kFloat64)
                                                                    : g[i].to(torch::kFloat64);
        }
      double max_diff = 0;
      json grads;
      for (size_t i = 0; i < params.size(); ++i) {
        const auto& param = params[i].second;
        const auto& grad = sync.gradients()[i];
        ok = ok && !param.grad().defined();  // after_backward dropped autograd's copy
        const auto want = expected[i].defined() ? expected[i] / world : torch::zeros_like(grad, torch::kFloat64);
        max_diff = std::max(max_diff, (grad.to(torch::kFloat64) - want).abs().max().item<double>());
        grads[params[i].first] = values_of(grad);
        ok = ok && grad.scalar_type() == vrwkv::dist::accumulation_type(param.scalar_type());
      }
      config["steps"].push_back({{"max_abs_diff", max_diff}, {"grads", grads}});
    }
    out["bucket_bytes_" + std::to_string(bucket_bytes)] = config;
  }
  out["ok"] = ok;
}

void zero(Communicator& comm, json& out) {
  const int rank = comm.rank();
  vrwkv::io::NamedTensors params;
  auto shapes = pat::zero_shapes();
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto dtype = i == 7 ? torch::kBFloat16 : torch::kFloat32;
    params.emplace_back("p" + std::to_string(i), torch::zeros(shapes[i], dtype).requires_grad_(true));
  }
  auto owners = vrwkv::dist::partition_owners(params, comm.world_size());
  {
    torch::NoGradGuard no_grad;  // "the optimizer step": each rank updates only what it owns
    for (size_t i = 0; i < params.size(); ++i)
      params[i].second.fill_(owners[i] == rank ? pat::zero_value(i, rank) : -1.0);
  }
  vrwkv::dist::broadcast_from_owners(comm, params, owners);
  out["owners"] = owners;
  json ranges = json::array();
  for (const auto& [name, t] : params)
    ranges.push_back({t.min().to(torch::kFloat64).item<double>(), t.max().to(torch::kFloat64).item<double>()});
  out["min_max"] = ranges;
  out["owned_by_me"] = vrwkv::dist::owned_by(params, owners, rank).size();
}

void strings(Communicator& comm, json& out) {
  for (int call = 0; call < 3; ++call)
    out["gathered"].push_back(comm.all_gather_strings(pat::gathered_string(comm.rank(), call)));
}

// Rank 1 dies (or hangs) while rank 0 is inside an all_reduce.
int peer_failure(Communicator& comm, bool die) {
  comm.barrier();  // both ranks are past creating the process group
  if (comm.rank() != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(die ? 500 : 120000));
    std::fflush(nullptr);
    _exit(3);
  }
  std::vector<torch::Tensor> tensors{torch::ones({1 << 20})};
  comm.all_reduce_sum(tensors);
  std::fprintf(stderr, "all_reduce unexpectedly succeeded\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <scenario> <scratch_dir> [timeout_ms]\n", argv[0]);
    return 64;
  }
  const std::string scenario = argv[1], scratch = argv[2];
  const auto timeout = std::chrono::milliseconds(argc > 3 ? std::stol(argv[3]) : 30000);
  torch::set_num_threads(1);  // several ranks share a small machine
  try {
    auto env = vrwkv::dist::detect_dist_env();
    const auto started = std::chrono::steady_clock::now();
    auto comm = Communicator::create(env, torch::kCPU, timeout);
    json out;
    out["rank"] = comm->rank();
    out["world_size"] = comm->world_size();
    out["launcher"] = env.launcher;
    out["backend"] = comm->backend();
    if (scenario == "collectives")
      collectives(*comm, out);
    else if (scenario == "gradsync")
      gradsync(*comm, comm, out);
    else if (scenario == "zero")
      zero(*comm, out);
    else if (scenario == "strings")
      strings(*comm, out);
    else if (scenario == "die" || scenario == "hang")
      return peer_failure(*comm, scenario == "die");
    else
      throw vrwkv::Error("unknown scenario '" + scenario + "'");
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string path = scratch + "/" + scenario + ".rank" + std::to_string(comm->rank()) + ".json";
    std::ofstream(path + ".tmp") << out.dump() << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
    return out.value("ok", true) ? 0 : 1;
  } catch (const vrwkv::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    return 4;
  }
}
