// The distributed layer: launcher detection in process; collectives, gradient averaging, ZeRO-1
// broadcasts and failure handling across 2 and 3 real processes (tests/dist_worker.cpp on Gloo),
// each started with posix_spawn and torchrun's environment variables.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include "base/build_config.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "dist/communicator.h"
#include "dist/dist_env.h"
#include "dist/grad_sync.h"
#include "dist/zero.h"
#include "dist_test_patterns.h"
#include "dist_worker_path.h"  // generated: VRWKV_TEST_DIST_WORKER
#include "test_paths.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using vrwkv::test::contains;
namespace pat = vrwkv::test::dist;

const std::vector<std::string> kLauncherVariables = {
    "RANK",         "WORLD_SIZE",   "LOCAL_RANK",    "MASTER_ADDR",          "MASTER_PORT",
    "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_LOCAL_RANK",   "PMI_RANK",      "PMI_SIZE",             "MPI_LOCALRANKID"};

// Clears every launcher variable for one test and restores the previous values afterwards.
class EnvGuard {
 public:
  EnvGuard() {
    for (const auto& name : kLauncherVariables) {
      const char* value = std::getenv(name.c_str());
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name.c_str());
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value)
        setenv(name.c_str(), value->c_str(), 1);
      else
        unsetenv(name.c_str());
    }
  }
  void set(const char* name, const char* value) { setenv(name, value, 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A port nobody listens on right now: bind port 0 and let the kernel choose.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

#if VRWKV_WITH_GLOO  // the multi-process helpers (see below)
std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  fs::path out, err;
  bool finished = false;
  int exit_code = -1;  // 128 + signal when killed
};

// Starts `world` ranks of the worker (posix_spawn: this test binary has threads, so no fork),
// each with torchrun's variables and its stdout / stderr in `scratch`.
std::vector<Worker> launch(const std::string& scenario, int world, const fs::path& scratch, int timeout_ms) {
  const int port = free_port();
  std::vector<std::string> base;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool launcher = false;
    for (const auto& v : kLauncherVariables) launcher = launcher || name == v;
    if (!launcher && name != "OMP_NUM_THREADS") base.push_back(entry);
  }
  std::vector<Worker> workers;
  for (int rank = 0; rank < world; ++rank) {
    Worker w;
    w.rank = rank;
    w.out = scratch / (scenario + ".rank" + std::to_string(rank) + ".stdout");
    w.err = scratch / (scenario + ".rank" + std::to_string(rank) + ".stderr");
    std::vector<std::string> env = base;
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(rank));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("OMP_NUM_THREADS=1");
    std::vector<std::string> args = {VRWKV_TEST_DIST_WORKER, scenario, scratch.string(), std::to_string(timeout_ms)};
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, w.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, w.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&w.pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
    workers.push_back(w);
  }
  return workers;
}

// Waits for one worker until `deadline`; false if it is still running then.
bool wait_for(Worker& w, Clock::time_point deadline) {
  while (!w.finished) {
    int status = 0;
    pid_t got = waitpid(w.pid, &status, WNOHANG);
    if (got == w.pid) {
      w.finished = true;
      w.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void kill_all(std::vector<Worker>& workers) {
  for (auto& w : workers) {
    if (w.finished) continue;
    kill(w.pid, SIGKILL);
    int status = 0;
    waitpid(w.pid, &status, 0);
    w.finished = true;
    w.exit_code = 128 + SIGKILL;
  }
}

std::string report(const std::vector<Worker>& workers) {
  std::string text;
  for (const auto& w : workers)
    text += "rank " + std::to_string(w.rank) + " exit " + std::to_string(w.exit_code) + ", stderr:\n" +
            read_file(w.err) + "\n";
  return text;
}

// Runs a scenario to completion (every rank must exit 0 within `limit`) and returns each rank's JSON.
std::vector<json> run_ranks(const std::string& scenario, int world, std::chrono::seconds limit = std::chrono::seconds(120),
                            int timeout_ms = 30000) {
  auto scratch = vrwkv::test::scratch_dir("dist_" + scenario + "_" + std::to_string(world));
  auto workers = launch(scenario, world, scratch, timeout_ms);
  const auto deadline = Clock::now() + limit;
  bool all_done = true;
  for (auto& w : workers) all_done = wait_for(w, deadline) && all_done;
  kill_all(workers);
  INFO(report(workers));
  REQUIRE(all_done);
  std::vector<json> results;
  for (const auto& w : workers) {
    REQUIRE(w.exit_code == 0);
    auto path = scratch / (scenario + ".rank" + std::to_string(w.rank) + ".json");
    REQUIRE(fs::exists(path));
    results.push_back(json::parse(read_file(path)));
    REQUIRE(results.back()["rank"] == w.rank);
    REQUIRE(results.back()["world_size"] == world);
    REQUIRE(results.back()["launcher"] == "torchrun");
    REQUIRE(results.back()["backend"] == "gloo");
  }
  return results;
}

void check_values(const json& actual, size_t k, int64_t numel, const std::function<double(int64_t)>& expected) {
  INFO("tensor " << k);
  REQUIRE(actual.size() == static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) {
    INFO("element " << i);
    REQUIRE(actual[i].get<double>() == expected(i));
  }
}

#endif  // VRWKV_WITH_GLOO

}  // namespace

TEST_CASE("detect_dist_env reads torchrun, Slurm, Open MPI and PMI variables", "[dist]") {
  using vrwkv::dist::detect_dist_env;
  EnvGuard env;

  SECTION("no launcher: one process") {
    auto d = detect_dist_env();
    CHECK(d.launcher == "single");
    CHECK(d.rank == 0);
    CHECK(d.world_size == 1);
    CHECK(d.local_rank == 0);
    CHECK(d.master_addr == "127.0.0.1");
    CHECK(d.master_port == 29500);
  }
  SECTION("torchrun") {
    env.set("RANK", "2");
    env.set("WORLD_SIZE", "4");
    env.set("LOCAL_RANK", "1");
    env.set("MASTER_ADDR", "10.0.0.5");
    env.set("MASTER_PORT", "1234");
    env.set("SLURM_PROCID", "0");  // torchrun inside a Slurm job: torchrun's variables win
    env.set("SLURM_NTASKS", "8");
    auto d = detect_dist_env();
    CHECK(d.launcher == "torchrun");
    CHECK(d.rank == 2);
    CHECK(d.world_size == 4);
    CHECK(d.local_rank == 1);
    CHECK(d.master_addr == "10.0.0.5");
    CHECK(d.master_port == 1234);
  }
  SECTION("torchrun: invalid values name the variable") {
    env.set("MASTER_ADDR", "127.0.0.1");
    env.set("RANK", "4");
    env.set("WORLD_SIZE", "4");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("RANK=4") && contains("WORLD_SIZE=4"));
    env.set("WORLD_SIZE", "two");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("WORLD_SIZE='two'"));
    env.set("WORLD_SIZE", "8");
    env.set("RANK", "1x");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("RANK='1x'"));
    env.set("RANK", "1");
    env.set("LOCAL_RANK", "-1");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("LOCAL_RANK=-1"));
    env.set("LOCAL_RANK", "1");
    env.set("MASTER_PORT", "70000");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("MASTER_PORT"));
    env.set("MASTER_PORT", "abc");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("MASTER_PORT='abc'"));
    unsetenv("MASTER_PORT");
    unsetenv("WORLD_SIZE");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("WORLD_SIZE is not set"));
  }
  SECTION("Slurm") {
    env.set("SLURM_PROCID", "3");
    env.set("SLURM_NTASKS", "8");
    env.set("SLURM_LOCALID", "3");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("MASTER_ADDR is not set"));
    env.set("MASTER_ADDR", "node01");
    auto d = detect_dist_env();
    CHECK(d.launcher == "slurm");
    CHECK(d.rank == 3);
    CHECK(d.world_size == 8);
    CHECK(d.local_rank == 3);
    CHECK(d.master_addr == "node01");
    CHECK(d.master_port == 29500);
    env.set("SLURM_LOCALID", "9");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("SLURM_LOCALID=9"));
  }
  SECTION("Slurm with one task needs no MASTER_ADDR") {
    env.set("SLURM_PROCID", "0");
    env.set("SLURM_NTASKS", "1");
    auto d = detect_dist_env();
    CHECK(d.launcher == "slurm");
    CHECK(d.world_size == 1);
  }
  SECTION("Open MPI") {
    env.set("OMPI_COMM_WORLD_RANK", "1");
    env.set("OMPI_COMM_WORLD_SIZE", "2");
    env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
    env.set("MASTER_ADDR", "head");
    env.set("MASTER_PORT", "4000");
    auto d = detect_dist_env();
    CHECK(d.launcher == "openmpi");
    CHECK(d.rank == 1);
    CHECK(d.world_size == 2);
    CHECK(d.local_rank == 1);
    CHECK(d.master_addr == "head");
    CHECK(d.master_port == 4000);
    env.set("OMPI_COMM_WORLD_SIZE", "0");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("OMPI_COMM_WORLD_SIZE=0"));
  }
  SECTION("PMI (MPICH, Intel MPI)") {
    env.set("PMI_RANK", "2");
    env.set("PMI_SIZE", "3");
    env.set("MPI_LOCALRANKID", "0");
    env.set("MASTER_ADDR", "head");
    auto d = detect_dist_env();
    CHECK(d.launcher == "pmi");
    CHECK(d.rank == 2);
    CHECK(d.world_size == 3);
    CHECK(d.local_rank == 0);
    env.set("PMI_RANK", "3");
    REQUIRE_THROWS_WITH(detect_dist_env(), contains("PMI_RANK=3"));
  }
}

TEST_CASE("a one-process communicator does no networking and changes nothing", "[dist]") {
  vrwkv::dist::DistEnv env;
  env.master_addr = "256.0.0.1";  // unusable: any networking would fail
  env.master_port = 1;
  auto comm = vrwkv::dist::Communicator::create(env, torch::kCPU, std::chrono::milliseconds(1000));
  CHECK(comm->backend() == "none");
  CHECK(comm->is_main());
  std::vector<torch::Tensor> tensors{torch::arange(6).to(torch::kFloat32), torch::ones({2, 2}, torch::kBFloat16)};
  auto before = tensors[0].clone();
  comm->broadcast(tensors, 0);
  comm->all_reduce_sum(tensors);
  CHECK(torch::equal(tensors[0], before));
  CHECK(!comm->all_reduce_sum_async(tensors[0]).pending());
  comm->barrier();
  CHECK(comm->all_gather_strings("abc") == std::vector<std::string>{"abc"});
  REQUIRE_THROWS_WITH(comm->broadcast(tensors, 1), contains("rank 1"));

  // GradientSync at world size 1: the micro batches' gradients summed in float32, even for bf16.
  torch::manual_seed(3);
  torch::nn::Linear layer(3, 2);
  layer->to(torch::kBFloat16);
  vrwkv::io::NamedTensors params;
  for (const auto& item : layer->named_parameters()) params.emplace_back(item.key(), item.value());
  vrwkv::dist::GradientSync sync(comm, params);
  CHECK(sync.bucket_dtypes() == std::vector<torch::ScalarType>{torch::kFloat32});
  // 1 + 3 x 2^-9: each addend is exact in bf16, the sum is not (bf16 keeps 8 bits), float32 keeps it.
  const std::vector<double> scales{1.0, 1.0 / 512, 1.0 / 512, 1.0 / 512};
  sync.begin_step();
  for (size_t micro = 0; micro < scales.size(); ++micro) {
    if (micro + 1 == scales.size()) sync.arm();
    (layer->weight.sum() * scales[micro]).backward();
    sync.after_backward();
    CHECK_FALSE(layer->weight.grad().defined());
  }
  sync.finish();
  const auto& g = sync.gradients()[0];
  CHECK(g.scalar_type() == torch::kFloat32);
  CHECK(g.sizes() == layer->weight.sizes());
  CHECK(torch::all(g == float(1.0 + 3.0 / 512)).item<bool>());
  CHECK(float(1.0 + 3.0 / 512) != float(c10::BFloat16(1.0 + 3.0 / 512)));  // what bf16 would have kept
  CHECK(torch::all(sync.gradients()[1] == 0).item<bool>());                // the bias got no gradient
  // begin_step starts the next step from zero.
  sync.begin_step();
  CHECK(torch::all(sync.gradients()[0] == 0).item<bool>());
}

TEST_CASE("the communicator's device rules: tensors on its device; host numbers travel through it", "[dist]") {
  // A CUDA communicator of one process touches no GPU, so its rules can be checked on any machine.
  vrwkv::dist::DistEnv env;
  auto comm = vrwkv::dist::Communicator::create(env, torch::Device(torch::kCUDA, 0), std::chrono::milliseconds(1000));
  CHECK(comm->device() == torch::Device(torch::kCUDA, 0));
  std::vector<torch::Tensor> host{torch::ones({2})};
  REQUIRE_THROWS_WITH(comm->all_reduce_sum(host), contains("is on cpu, the communicator on cuda:0"));
  REQUIRE_THROWS_WITH(comm->broadcast(host, 0), contains("is on cpu, the communicator on cuda:0"));
  // What the trainer reduces every step (loss, tokens, samples, stop): host numbers, accepted.
  CHECK(comm->all_reduce_sum(std::vector<double>{1.5, 2, 3, 0}) == std::vector<double>{1.5, 2, 3, 0});
}

TEST_CASE("a rendezvous nobody else joins fails within the timeout", "[dist]") {
  const auto started = Clock::now();
  vrwkv::dist::DistEnv env;
  env.world_size = 2;
  env.master_port = free_port();
  SECTION("rank 1 finds no rank 0") {
    env.rank = 1;
    REQUIRE_THROWS_WITH(vrwkv::dist::Communicator::create(env, torch::kCPU, std::chrono::milliseconds(1000)),
                        contains("rank 1: could not join the rendezvous at 127.0.0.1:" + std::to_string(env.master_port)));
  }
  SECTION("rank 0 waits for rank 1 in vain") {
    env.rank = 0;
    REQUIRE_THROWS_WITH(vrwkv::dist::Communicator::create(env, torch::kCPU, std::chrono::milliseconds(1000)),
                        contains("rank 0: only 1 of 2 ranks joined the rendezvous at 127.0.0.1:" + std::to_string(env.master_port)));
  }
  CHECK(Clock::now() - started < std::chrono::seconds(20));
}

TEST_CASE("partition_owners balances whole tensors deterministically", "[dist]") {
  using vrwkv::dist::partition_owners;
  auto named = [](const std::vector<int64_t>& sizes) {
    vrwkv::io::NamedTensors params;
    for (size_t i = 0; i < sizes.size(); ++i) params.emplace_back("t" + std::to_string(i), torch::zeros({sizes[i]}));
    return params;
  };
  // Largest first to the least loaded rank: 10->0, 8->1, 6->1, 4->0, 2->0 (tie: lower rank).
  CHECK(partition_owners(named({10, 8, 6, 4, 2}), 2) == std::vector<int>{0, 1, 1, 0, 0});
  CHECK(partition_owners(named({2, 4, 6, 8, 10}), 2) == std::vector<int>{0, 0, 1, 1, 0});
  CHECK(partition_owners(named({5, 5, 5}), 1) == std::vector<int>{0, 0, 0});
  CHECK(partition_owners(named({7}), 3) == std::vector<int>{0});
  CHECK(partition_owners({}, 2).empty());
  REQUIRE_THROWS_WITH(partition_owners(named({1}), 0), contains("world size 0"));

  std::vector<int64_t> sizes;
  uint64_t x = 12345;
  for (int i = 0; i < 200; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sizes.push_back(1 + static_cast<int64_t>((x >> 33) % 5000));
  }
  auto params = named(sizes);
  for (int world : {2, 3, 4, 8}) {
    auto owners = partition_owners(params, world);
    CHECK(owners == partition_owners(params, world));
    std::vector<int64_t> load(world, 0);
    for (size_t i = 0; i < sizes.size(); ++i) {
      REQUIRE(owners[i] >= 0);
      REQUIRE(owners[i] < world);
      load[owners[i]] += sizes[i];
    }
    auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    // Greedy largest-first: no rank ends more than one (small, late) tensor above another.
    CHECK(*hi - *lo <= 5000);
    size_t owned = 0;
    for (int r = 0; r < world; ++r) owned += vrwkv::dist::owned_by(params, owners, r).size();
    CHECK(owned == sizes.size());
  }
}

// The worker processes run on CPU, which needs Gloo (absent from the GPU lab's libtorch).
#if VRWKV_WITH_GLOO

TEST_CASE("broadcast and all_reduce_sum across 2 and 3 ranks give exact values", "[dist]") {
  const auto specs = pat::collective_specs();
  for (int world : {2, 3}) {
    INFO("world size " << world);
    auto results = run_ranks("collectives", world);
    auto sum = [world](size_t k, int64_t i) {
      double s = 0;
      for (int r = 0; r < world; ++r) s += pat::pattern(k, r, i);
      return s;
    };
    for (const auto& result : results) {
      INFO("rank " << result["rank"]);
      CHECK(result["in_place"] == true);
      for (const char* name : {"broadcast_from_last", "broadcast_from_0_small_buffers", "sum", "sum_small_buffers",
                               "sum_one_per_tensor"}) {
        INFO(name);
        const std::string op = name;
        const int root = op == "broadcast_from_last" ? world - 1 : 0;
        REQUIRE(result[op].size() == specs.size());
        for (size_t k = 0; k < specs.size(); ++k) {
          CHECK(result[op + "_dtypes"][k] == std::string(c10::toString(specs[k].dtype)));
          if (op.rfind("sum", 0) == 0)
            check_values(result[op][k], k, pat::numel_of(specs[k]), [&](int64_t i) { return sum(k, i); });
          else
            check_values(result[op][k], k, pat::numel_of(specs[k]), [&](int64_t i) { return pat::pattern(k, root, i); });
        }
      }
      check_values(result["sum_async"], 20, 6, [&](int64_t i) { return sum(20, i); });
      check_values(result["broadcast_leaf_from_1"], 21, 4, [&](int64_t i) { return pat::pattern(21, 1, i); });
    }
  }
}

TEST_CASE("GradientSync averages the accumulated gradients over ranks", "[dist]") {
  for (int world : {2, 3}) {
    INFO("world size " << world);
    auto results = run_ranks("gradsync", world);
    for (const auto& result : results) {
      INFO("rank " << result["rank"]);
      CHECK(result["ok"] == true);
      for (const char* config : {"bucket_bytes_64", "bucket_bytes_26214400"}) {
        INFO(config);
        const auto& c = result[config];
        REQUIRE(c["steps"].size() == 2);
        for (size_t s = 0; s < 2; ++s) {
          INFO("step " << s);
          const auto& step = c["steps"][s];
          // Against the single-process accumulation over every rank's micro-batches.
          CHECK(step["max_abs_diff"].get<double>() < 1e-6);
          // Every rank ends with the very same gradients.
          CHECK(step["grads"] == results[0][config]["steps"][s]["grads"]);
          CHECK(step["grads"]["unused"] == json::array({0.0, 0.0, 0.0, 0.0}));
        }
      }
      // Reverse parameter order, one dtype per bucket (the float64 `scale` on its own).
      const auto& small = result["bucket_bytes_64"]["buckets"];
      CHECK(small.size() >= 6);
      CHECK(small[0] == json::array({"l3.bias"}));
      CHECK(small.back() == json::array({"scale"}));
      const auto& large = result["bucket_bytes_26214400"]["buckets"];
      REQUIRE(large.size() == 2);
      CHECK(large[0][0] == "l3.bias");
      CHECK(large[0].back() == "first_only");
      CHECK(large[1] == json::array({"scale"}));
    }
  }
}

TEST_CASE("broadcast_from_owners gives every rank every updated tensor", "[dist]") {
  auto shapes = pat::zero_shapes();
  vrwkv::io::NamedTensors params;
  for (size_t i = 0; i < shapes.size(); ++i) params.emplace_back("p" + std::to_string(i), torch::zeros(shapes[i]));
  for (int world : {2, 3}) {
    INFO("world size " << world);
    auto expected_owners = vrwkv::dist::partition_owners(params, world);
    auto results = run_ranks("zero", world);
    size_t owned = 0;
    for (const auto& result : results) {
      INFO("rank " << result["rank"]);
      CHECK(result["owners"].get<std::vector<int>>() == expected_owners);
      owned += result["owned_by_me"].get<size_t>();
      for (size_t i = 0; i < shapes.size(); ++i) {
        INFO("tensor " << i);
        double value = pat::zero_value(i, expected_owners[i]);
        CHECK(result["min_max"][i] == json::array({value, value}));
      }
    }
    CHECK(owned == shapes.size());
  }
}

TEST_CASE("all_gather_strings returns every rank's bytes", "[dist]") {
  for (int world : {2, 3}) {
    INFO("world size " << world);
    auto results = run_ranks("strings", world);
    for (const auto& result : results) {
      INFO("rank " << result["rank"]);
      REQUIRE(result["gathered"].size() == 3);
      for (int call = 0; call < 3; ++call) {
        std::vector<std::string> expected;
        for (int r = 0; r < world; ++r) expected.push_back(pat::gathered_string(r, call));
        CHECK(result["gathered"][call].get<std::vector<std::string>>() == expected);
      }
    }
  }
}

TEST_CASE("a rank that dies makes the others fail with a clear error, not hang", "[dist]") {
  const auto started = Clock::now();
  auto scratch = vrwkv::test::scratch_dir("dist_die");
  auto workers = launch("die", 2, scratch, 10000);
  bool rank0_done = wait_for(workers[0], started + std::chrono::seconds(55));
  bool rank1_done = wait_for(workers[1], Clock::now() + std::chrono::seconds(2));
  kill_all(workers);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  INFO(report(workers) << "took " << seconds << " s");
  REQUIRE(rank0_done);
  REQUIRE(rank1_done);
  CHECK(workers[1].exit_code == 3);
  CHECK(workers[0].exit_code == 2);
  const std::string err = read_file(workers[0].err);
  CHECK_THAT(err, contains("rank 0: all_reduce failed after"));
  CHECK_THAT(err, contains("a peer rank may have died"));
  CHECK(seconds < 60);
}

TEST_CASE("a rank that stops responding makes the others fail at the timeout", "[dist]") {
  const auto started = Clock::now();
  auto scratch = vrwkv::test::scratch_dir("dist_hang");
  auto workers = launch("hang", 2, scratch, 3000);  // rank 1 sleeps instead of joining the all_reduce
  bool rank0_done = wait_for(workers[0], started + std::chrono::seconds(40));
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  kill_all(workers);
  INFO(report(workers) << "took " << seconds << " s");
  REQUIRE(rank0_done);
  CHECK(workers[0].exit_code == 2);
  CHECK_THAT(read_file(workers[0].err), contains("rank 0: all_reduce failed after"));
  CHECK(seconds >= 3.0);
  CHECK(seconds < 40);
}

#endif  // VRWKV_WITH_GLOO
