// One optimizer step of the trainer itself (train::StepRunner: the tower's forward, assembly, the
// RWKV forward and backward with the chunked loss, the gradient sync, clipping, AdamW), built by the
// trainer's own set-up (train::prepare_model) at real shapes with random weights and synthetic
// batches, the way SPEC section 10 timed the original: prints seconds per step, tokens/s, peak
// memory and MFU (the trainer's FLOPs per position, train/progress.h, over the device's peak,
// train/mfu.h; none where the peak is unknown) for stage 1 and stage 2.
//
//   bench_train_step [--model configs/model/1b6.json | configs/tiny/stage1.json] [--ctx 1024] [--steps 5]
//                    [--device cuda|cpu] [--precision fp32|bf16] [--stage1-batch 8] [--stage2-batch 4]
//                    [--find-max-batch] [--zero-memory 7b.json] [--wkv-kernel recurrent|chunked]
// --model takes a model config or a run config (its "model" object; "family": "v7" times VisualRWKV-7,
// e.g. configs/tiny-v7/stage2.json on the CPU, configs/v7-0b1/stage1.json on CUDA). --precision defaults to bf16 on
// CUDA, fp32 on the CPU. Peak memory: on CUDA the caching allocator's peak; on the CPU the peak RSS
// of a child process that runs just that stage (this binary re-executed with --only).
// --find-max-batch doubles the stage-2 batch until the device runs out of memory (with and without
// gradient checkpointing); --zero-memory runs a 7B stage-2 step at batch 1 with checkpointing and
// ZeRO-1 at world size 1 (the whole optimizer state on the one rank), for memory. --wkv-kernel sets a
// v7 model's model.wkv_kernel (model/wkv7_chunked.h), to time the two side by side.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/device_memory.h"
#include "config/run_config.h"
#include "dist/communicator.h"
#include "model/image_placement.h"
#include "model/sequence.h"
#include "train/mfu.h"
#include "train/model_setup.h"
#include "train/progress.h"
#include "train/train_step.h"

namespace {

using namespace vrwkv;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Result {
  bool ok = false;
  double step_s = 0, tokens_per_s = 0, peak_gib = 0, mfu = NAN;  // mfu NaN: the device's peak is unknown
  std::string error;
};

// What one measurement runs: a run config as the trainer reads it.
struct Variant {
  json model;  // the "model" object
  int stage = 1;
  int64_t batch = 1, ctx = 1024;
  std::string device, precision;
  bool checkpointing = false;
  int zero_stage = 0;
};

bool is_v7(const json& model) { return model.value("family", std::string("v6")) == "v7"; }

RunConfig run_config_of(const Variant& v, int steps) {
  // v7's towers size their own pixels; v6's data.image.size must equal the CLIP tower's.
  const json data = is_v7(v.model) ? json{{"ctx_len", v.ctx}}
                                   : json{{"ctx_len", v.ctx},
                                          {"image", {{"size", model_config_from_json(v.model, "model").vision.image_size}}}};
  const json raw = {
      {"model", v.model},
      {"tokenizer", {{"path", "(none: synthetic batches)"}}},
      {"data", data},
      {"train",
       {{"stage", v.stage}, {"micro_batch_size", v.batch}, {"steps", steps + 1}, {"precision", v.precision},
        {"device", v.device}, {"grad_checkpointing", v.checkpointing}, {"zero_stage", v.zero_stage}}},
      {"optim", {{"lr_init", 1e-5}, {"lr_final", 1e-5}}},
  };
  return run_config_from_json(raw, "bench_train_step");
}

// The same micro batch every step, shaped like image-first samples: "User: " (3 tokens), the image,
// then random text filling ctx_len. v7: K placeholder ids per sample and one picture per tower.
class SyntheticBatches : public train::BatchSource {
 public:
  explicit SyntheticBatches(const RunConfig& c) {
    if (c.family == ModelFamily::kV7) {
      const auto& m = c.model7;
      const int64_t B = c.train.micro_batch_size, K = m.tokens_per_image, T = c.data.ctx_len;
      // Text ids below the World tokenizer's last (65529): never the placeholder 65535.
      batch_.input_ids = torch::randint(1, std::min<int64_t>(m.rwkv.vocab_size, 65530), {B, T}, torch::kInt64);
      batch_.input_ids.index_put_({torch::indexing::Slice(), torch::indexing::Slice(3, 3 + K)}, kV7ImagePlaceholderId);
      batch_.labels = batch_.input_ids.clone();
      batch_.labels.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 3 + K + 3)}, kIgnoreLabel);
      auto pixels = [&](const VitTowerConfig& t) { return torch::randn({B, 3, t.image_size, t.image_size}); };
      batch_.towers = {pixels(m.towers.dino), pixels(m.towers.siglip),
                       torch::randn({B, 3, m.towers.sam.image_size, m.towers.sam.image_size})};
      return;
    }
    const int64_t B = c.train.micro_batch_size, K = c.model.image_tokens(), text = c.data.ctx_len - K + 1;
    batch_.input_ids = torch::randint(1, c.model.vocab_size, {B, text}, torch::kInt64);
    batch_.input_ids.index_put_({torch::indexing::Slice(), 3}, kImagePlaceholder);
    batch_.labels = batch_.input_ids.clone();
    batch_.labels.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 4)}, kIgnoreLabel);
    batch_.images = torch::randn({B, 3, c.data.image.size, c.data.image.size});
  }
  train::Batch next() override { return batch_; }
  json skip_stats() const override { return {{"seen", 0}, {"skipped", 0}, {"by_reason", json::object()}}; }
  std::string describe() const override { return "synthetic"; }

 private:
  train::Batch batch_;
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

Result run(const Variant& v, int steps) {
  Result r;
  try {
    const auto config = run_config_of(v, steps);
    const auto device = train::choose_device(config.train.device, 0);
    if (device.is_cuda()) cuda_reset_peak_memory();
    auto comm = dist::Communicator::create(dist::DistEnv{}, device, std::chrono::minutes(10));
    auto m = train::prepare_model(config, device, *comm, "");
    train::StepRunner runner(config, m.model, m.trained, m.owners, *m.optimizer, comm, device);
    SyntheticBatches batches(config);
    const int64_t per_step = config.train.micro_batch_size * config.train.grad_accumulation;
    runner.run(batches, 0, 0, false);  // warm-up
    sync(device);
    const auto t0 = Clock::now();
    int64_t tokens = 0;
    for (int i = 1; i <= steps; ++i) tokens += runner.run(batches, i, i * per_step, false).stats.tokens;
    sync(device);
    r.step_s = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
    r.tokens_per_s = double(tokens) / steps / r.step_s;
    r.peak_gib = device.is_cuda() ? cuda_peak_allocated_bytes() / double(1ull << 30) : 0;
    if (const auto peak = train::device_peak_flops(device, config.train.precision))
      r.mfu = r.tokens_per_s * m.model.flops_per_token(config.data.ctx_len) / *peak;
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = std::string(e.what()).substr(0, std::string(e.what()).find('\n'));
  }
  return r;
}

void print(const std::string& label, int64_t batch, const Result& r, bool cuda) {
  if (!r.ok) {
    std::printf("%-42s batch %3lld: failed: %s\n", label.c_str(), static_cast<long long>(batch), r.error.c_str());
    return;
  }
  std::printf("%-42s batch %3lld: %8.3f s/step %10.0f tokens/s  peak %s %8.3f GiB", label.c_str(),
              static_cast<long long>(batch), r.step_s, r.tokens_per_s, cuda ? "alloc" : "RSS", r.peak_gib);
  if (std::isnan(r.mfu))
    std::printf("  MFU n/a (no known peak for this device)");
  else
    std::printf("  MFU %5.1f%%", 100 * r.mfu);
  std::printf("\n");
  std::fflush(stdout);
}

json load_model(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  const auto j = json::parse(in);
  // A run config carries the model under "model"; a model config is the object itself.
  return j.is_object() && j.contains("model") && j.at("model").is_object() ? j.at("model") : j;
}

// The line a child (--only) prints and its parent parses.
constexpr const char* kResultTag = "BENCH_RESULT";

void print_child_result(const Result& r) {
  if (r.ok)
    std::printf("%s ok %.9g %.9g %.9g\n", kResultTag, r.step_s, r.tokens_per_s, std::isnan(r.mfu) ? -1.0 : r.mfu);
  else
    std::printf("%s failed %s\n", kResultTag, r.error.c_str());
  std::fflush(stdout);
}

// Runs this binary again with `args` (ending in --only ...), reads its result line and takes the
// child's peak RSS (ru_maxrss, KiB on Linux) as the variant's peak memory.
Result run_child(const std::vector<std::string>& args) {
  Result r;
  int fd[2];
  if (pipe(fd) != 0) {
    r.error = "pipe failed";
    return r;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    r.error = "fork failed";
    return r;
  }
  if (pid == 0) {
    dup2(fd[1], STDOUT_FILENO);
    close(fd[0]);
    close(fd[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd[0]);
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  const auto at = out.find(kResultTag);
  if (at == std::string::npos) {
    r.error = "child exited with status " + std::to_string(status) + " and no result";
    return r;
  }
  std::istringstream line(out.substr(at + std::string(kResultTag).size()));
  std::string state;
  line >> state;
  if (state != "ok") {
    std::getline(line, r.error);
    return r;
  }
  line >> r.step_s >> r.tokens_per_s >> r.mfu;
  if (r.mfu < 0) r.mfu = NAN;  // the child's "no known peak"
  r.peak_gib = usage.ru_maxrss * 1024.0 / double(1ull << 30);
  r.ok = true;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "configs/model/1b6.json", device_name = torch::cuda::is_available() ? "cuda" : "cpu",
              zero_model, precision, only, wkv_kernel;
  int64_t ctx = 1024, b1 = 8, b2 = 4;
  int steps = 5;
  bool find_max = false;
  std::vector<std::string> child_args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (k == "--model") model_path = value();
    else if (k == "--ctx") ctx = std::stoll(value());
    else if (k == "--steps") steps = std::stoi(value());
    else if (k == "--device") device_name = value();
    else if (k == "--precision") precision = value();
    else if (k == "--stage1-batch") b1 = std::stoll(value());
    else if (k == "--stage2-batch") b2 = std::stoll(value());
    else if (k == "--find-max-batch") find_max = true;
    else if (k == "--zero-memory") zero_model = value();
    else if (k == "--wkv-kernel") wkv_kernel = value();
    else if (k == "--only") only = value();  // internal: the stage, one result line
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
    if (k != "--find-max-batch" && k != "--zero-memory" && k != "--only") {
      child_args.push_back(k);
      child_args.push_back(argv[i]);
    }
  }
  spdlog::set_level(spdlog::level::warn);  // the set-up's info lines would drown the figures
  const torch::Device device(device_name);
  if (precision.empty()) precision = device.is_cuda() ? "bf16" : "fp32";
  Variant v;
  try {
    v.model = load_model(model_path);
    if (!wkv_kernel.empty()) {
      if (!is_v7(v.model)) throw std::runtime_error("--wkv-kernel applies to a v7 model (\"family\": \"v7\")");
      v.model["wkv_kernel"] = wkv_kernel;
      visual_rwkv7_config_from_json(v.model, model_path);  // an unknown kernel name fails here, not in a child
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", model_path.c_str(), e.what());
    return 2;
  }
  v.ctx = ctx;
  v.device = device_name;
  v.precision = precision;
  auto with = [&](int stage, int64_t batch, bool checkpointing) {
    Variant x = v;
    x.stage = stage;
    x.batch = batch;
    x.checkpointing = checkpointing;
    return x;
  };

  if (!only.empty()) {
    const int stage = only == "2" ? 2 : 1;
    print_child_result(run(with(stage, stage == 1 ? b1 : b2, false), steps));
    return 0;
  }

  if (is_v7(v.model)) {
    const auto m = visual_rwkv7_config_from_json(v.model, model_path);
    std::printf("model %s (VisualRWKV-7: n_layer %lld, n_embd %lld, vocab %lld, K %lld, towers %lld/%lld/%lldpx, "
                "WKV7 %s), T = %lld, %s, device %s\n",
                model_path.c_str(), static_cast<long long>(m.rwkv.n_layer), static_cast<long long>(m.rwkv.n_embd),
                static_cast<long long>(m.rwkv.vocab_size), static_cast<long long>(m.tokens_per_image),
                static_cast<long long>(m.towers.dino.image_size), static_cast<long long>(m.towers.siglip.image_size),
                static_cast<long long>(m.towers.sam.image_size), to_string(m.rwkv.wkv_kernel).c_str(),
                static_cast<long long>(ctx), precision.c_str(),
                device.str().c_str());
  } else {
    const auto mc = model_config_from_json(v.model, model_path);
    std::printf("model %s (n_layer %lld, n_embd %lld, vocab %lld), vision %lldpx, T = %lld, %s, device %s\n",
                model_path.c_str(), static_cast<long long>(mc.n_layer), static_cast<long long>(mc.n_embd),
                static_cast<long long>(mc.vocab_size), static_cast<long long>(mc.vision.image_size),
                static_cast<long long>(ctx), precision.c_str(), device.str().c_str());
  }
  const bool cuda = device.is_cuda();
  for (int stage : {1, 2}) {
    const int64_t batch = stage == 1 ? b1 : b2;
    Result r;
    if (cuda) {
      r = run(with(stage, batch, false), steps);
    } else {
      auto args = child_args;
      args.push_back("--only");
      args.push_back(std::to_string(stage));
      r = run_child(args);
    }
    print(stage == 1 ? "stage 1 (projector)" : "stage 2 (blocks, head, projector)", batch, r, cuda);
  }
  if (find_max) {
    for (bool ckpt : {false, true}) {
      int64_t best = 0;
      for (int64_t b = 4; b <= 512; b *= 2) {
        const auto r = run(with(2, b, ckpt), 1);
        print(ckpt ? "stage 2, checkpointing" : "stage 2, no checkpointing", b, r, cuda);
        if (!r.ok) break;
        best = b;
      }
      std::printf("largest stage-2 batch (powers of two) %s gradient checkpointing: %lld\n", ckpt ? "with" : "without",
                  static_cast<long long>(best));
    }
  }
  if (!zero_model.empty()) {
    Variant big = with(2, 1, true);
    big.model = load_model(zero_model);
    big.zero_stage = 1;
    print("7B stage 2, checkpointing, ZeRO-1 x1", 1, run(big, 1), cuda);
  }
  return 0;
}
