// One full training step (vision forward, assembly, RWKV forward + backward, AdamW) at real
// shapes with random weights and synthetic batches, the way SPEC section 10 timed the original:
// prints step time, tokens/s, peak memory and MFU for stage 1 and stage 2, with the loss on full
// logits (training_loss) and chunked (forward_hidden + chunked_training_loss) side by side.
//
//   bench_train_step [--model configs/model/1b6.json | configs/tiny/stage1.json] [--ctx 1024] [--steps 5]
//                    [--device cuda|cpu] [--precision fp32|bf16] [--loss chunked|full|both]
//                    [--loss-chunk P] [--stage1-batch 8] [--stage2-batch 4] [--find-max-batch]
//                    [--zero-memory 7b.json]
// --model takes a model config or a run config (its "model" object). --precision defaults to bf16 on
// CUDA, fp32 on the CPU. Peak memory: on CUDA the caching allocator's peak; on the CPU the peak RSS
// of a child process that runs just that variant (this binary re-executed with --only).
// --find-max-batch doubles the stage-2 batch until the device runs out of memory (with and without
// gradient checkpointing); --zero-memory runs a 7B stage-2 step at batch 1 with checkpointing and
// the optimizer state as ZeRO-1 would shard it at world size 1 (that is: all of it), for memory.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/device_memory.h"
#include "model/loss.h"
#include "model/visual_rwkv.h"
#include "train/adamw.h"
#include "train/model_setup.h"

namespace {

using namespace vrwkv;
using Clock = std::chrono::steady_clock;

constexpr double kPeakFlops = 790e12;  // H100 bf16 matrix throughput measured for SPEC section 10

struct Result {
  bool ok = false;
  double step_s = 0, tokens_per_s = 0, peak_gib = 0, mfu = 0;
  std::string error;
};

struct Options {
  bool bf16 = true;
  bool chunked_loss = false;
  int64_t loss_chunk = 0;  // 0: chunked_training_loss's automatic size
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Training FLOPs of one step: 6 per position per language-model weight (2 forward, 4 backward;
// stage 1 still backpropagates through every block to reach the projector), plus the tower's forward.
double step_flops(const VisualRWKV& m, int64_t batch, int64_t positions) {
  double lm = 0, vit = 0;
  for (const auto& item : m->rwkv->named_parameters())
    if (item.key().rfind("emb.", 0) != 0) lm += item.value().numel();
  for (const auto& p : m->vit->parameters()) vit += p.numel();
  return 6 * lm * batch * positions + 2 * vit * batch * (m->config.vision.num_patches() + 1);
}

Result run(const ModelConfig& mc, int stage, int64_t batch, int64_t ctx, int steps, bool checkpointing,
           const torch::Device& device, const Options& opt) {
  Result r;
  try {
    cuda_reset_peak_memory();
    torch::manual_seed(0);
    VisualRWKV model(mc);
    TrainConfig tc;
    tc.stage = stage;
    tc.freeze_rwkv_layers = stage == 1 ? mc.n_layer : 0;
    const auto trained = train::apply_freezing(model, tc);
    model->rwkv->checkpoint_blocks = checkpointing;
    model->to(device);
    train::AdamW optimizer(trained, {});
    if (opt.bf16) model->to(torch::kBFloat16);
    // A batch shaped like image-first samples: "User: " (3 tokens), the image, then text to ctx_len.
    const int64_t K = mc.image_tokens(), text = ctx - K + 1;
    auto ids = torch::randint(1, mc.vocab_size, {batch, text}, torch::kInt64);
    ids.index_put_({torch::indexing::Slice(), 3}, kImagePlaceholder);
    auto labels = ids.clone();
    labels.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 4)}, kIgnoreLabel);
    const auto images = torch::randn({batch, 3, mc.vision.image_size, mc.vision.image_size}).to(device);
    auto one_step = [&] {
      for (auto& [n, p] : trained) p.mutable_grad().reset();
      const auto e = model->embed(ids, labels, model->encode_images(images), ctx);
      if (opt.chunked_loss) {
        const auto hidden = model->forward_hidden(e.embeds, ScanMode::kBi, e.layout.img_start, e.layout.img_end);
        chunked_training_loss(hidden, model->rwkv->head->weight, e.layout.labels, opt.loss_chunk).backward();
      } else {
        const auto logits = model->forward_embeds(e.embeds, ScanMode::kBi, e.layout.img_start, e.layout.img_end);
        training_loss(logits, e.layout.labels.to(device)).backward();
      }
      optimizer.step(1e-5);
      return e.embeds.size(1);
    };
    int64_t positions = one_step();  // warm-up
    sync(device);
    const auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) positions = one_step();
    sync(device);
    r.step_s = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
    r.tokens_per_s = batch * positions / r.step_s;
    r.peak_gib = cuda_peak_allocated_bytes() / double(1ull << 30);
    r.mfu = step_flops(model, batch, positions) / r.step_s / kPeakFlops;
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
  if (cuda) std::printf("  MFU %5.1f%%", 100 * r.mfu);
  std::printf("\n");
  std::fflush(stdout);
}

ModelConfig load_model(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  const auto j = nlohmann::json::parse(in);
  // A run config carries the model under "model"; a model config is the object itself.
  if (j.is_object() && j.contains("model") && j.at("model").is_object())
    return model_config_from_json(j.at("model"), path + ": model");
  return model_config_from_json(j, path);
}

// The line a child (--only) prints and its parent parses.
constexpr const char* kResultTag = "BENCH_RESULT";

void print_child_result(const Result& r) {
  if (r.ok)
    std::printf("%s ok %.9g %.9g %.9g\n", kResultTag, r.step_s, r.tokens_per_s, r.mfu);
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
  r.peak_gib = usage.ru_maxrss * 1024.0 / double(1ull << 30);
  r.ok = true;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "configs/model/1b6.json", device_name = torch::cuda::is_available() ? "cuda" : "cpu",
              zero_model, precision, loss = "both", only;
  int64_t ctx = 1024, b1 = 8, b2 = 4;
  int steps = 5;
  bool find_max = false;
  Options opt;
  std::vector<std::string> child_args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (k == "--model") model_path = value();
    else if (k == "--ctx") ctx = std::stoll(value());
    else if (k == "--steps") steps = std::stoi(value());
    else if (k == "--device") device_name = value();
    else if (k == "--precision") precision = value();
    else if (k == "--loss") loss = value();
    else if (k == "--loss-chunk") opt.loss_chunk = std::stoll(value());
    else if (k == "--stage1-batch") b1 = std::stoll(value());
    else if (k == "--stage2-batch") b2 = std::stoll(value());
    else if (k == "--find-max-batch") find_max = true;
    else if (k == "--zero-memory") zero_model = value();
    else if (k == "--only") only = value();  // internal: "<stage>:<full|chunked>", one result line
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
    if (k != "--find-max-batch" && k != "--zero-memory" && k != "--only") {
      child_args.push_back(k);
      child_args.push_back(argv[i]);
    }
  }
  const torch::Device device(device_name);
  if (precision.empty()) precision = device.is_cuda() ? "bf16" : "fp32";
  if (precision != "bf16" && precision != "fp32") {
    std::fprintf(stderr, "--precision must be fp32 or bf16, not %s\n", precision.c_str());
    return 2;
  }
  opt.bf16 = precision == "bf16";
  std::vector<bool> variants;  // chunked loss?
  if (loss == "full" || loss == "both") variants.push_back(false);
  if (loss == "chunked" || loss == "both") variants.push_back(true);
  if (variants.empty()) {
    std::fprintf(stderr, "--loss must be chunked, full or both, not %s\n", loss.c_str());
    return 2;
  }
  const auto mc = load_model(model_path);

  if (!only.empty()) {
    const int stage = only.rfind("2:", 0) == 0 ? 2 : 1;
    opt.chunked_loss = only.find(":chunked") != std::string::npos;
    print_child_result(run(mc, stage, stage == 1 ? b1 : b2, ctx, steps, false, device, opt));
    return 0;
  }

  std::printf("model %s (n_layer %lld, n_embd %lld, vocab %lld), vision %lldpx, T = %lld, %s, device %s\n",
              model_path.c_str(), static_cast<long long>(mc.n_layer), static_cast<long long>(mc.n_embd),
              static_cast<long long>(mc.vocab_size), static_cast<long long>(mc.vision.image_size),
              static_cast<long long>(ctx), precision.c_str(), device.str().c_str());
  const bool cuda = device.is_cuda();
  for (int stage : {1, 2}) {
    const int64_t batch = stage == 1 ? b1 : b2;
    const std::string name = stage == 1 ? "stage 1 (projector)" : "stage 2 (blocks, head, projector)";
    std::vector<Result> results;
    for (bool chunked : variants) {
      Options o = opt;
      o.chunked_loss = chunked;
      Result r;
      if (cuda) {
        r = run(mc, stage, batch, ctx, steps, false, device, o);
      } else {
        auto args = child_args;
        args.push_back("--only");
        args.push_back(std::to_string(stage) + (chunked ? ":chunked" : ":full"));
        r = run_child(args);
      }
      print(name + (chunked ? ", chunked loss" : ", full logits"), batch, r, cuda);
      results.push_back(r);
    }
    if (results.size() == 2 && results[0].ok && results[1].ok)
      std::printf("stage %d chunked / full: tokens/s x%.2f, peak memory x%.2f\n", stage,
                  results[1].tokens_per_s / results[0].tokens_per_s, results[1].peak_gib / results[0].peak_gib);
  }
  // The memory searches use the chunked loss unless only the full one was asked for.
  opt.chunked_loss = variants.back();
  if (find_max) {
    for (bool ckpt : {false, true}) {
      int64_t best = 0;
      for (int64_t b = 4; b <= 512; b *= 2) {
        const auto r = run(mc, 2, b, ctx, 1, ckpt, device, opt);
        print(ckpt ? "stage 2, checkpointing" : "stage 2, no checkpointing", b, r, cuda);
        if (!r.ok) break;
        best = b;
      }
      std::printf("largest stage-2 batch (powers of two) %s gradient checkpointing: %lld\n", ckpt ? "with" : "without",
                  static_cast<long long>(best));
    }
  }
  if (!zero_model.empty()) {
    const auto big = load_model(zero_model);
    print("7B stage 2, checkpointing, ZeRO-1 x1", 1, run(big, 2, 1, ctx, 1, true, device, opt), cuda);
  }
  return 0;
}
