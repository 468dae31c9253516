// One full training step (vision forward, assembly, RWKV forward + backward, AdamW) at real
// shapes with random weights and synthetic batches, the way SPEC section 10 timed the original:
// prints step time, tokens/s, peak memory and MFU for stage 1 and stage 2.
//
//   bench_train_step [--model configs/model/1b6.json] [--ctx 1024] [--steps 5] [--device cuda|cpu]
//                    [--stage1-batch 8] [--stage2-batch 4] [--find-max-batch] [--zero-memory 7b.json]
// --find-max-batch doubles the stage-2 batch until the device runs out of memory (with and without
// gradient checkpointing); --zero-memory runs a 7B stage-2 step at batch 1 with checkpointing and
// the optimizer state as ZeRO-1 would shard it at world size 1 (that is: all of it), for memory.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

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
           const torch::Device& device) {
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
    model->to(torch::kBFloat16);
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
      const auto logits = model->forward_embeds(e.embeds, ScanMode::kBi, e.layout.img_start, e.layout.img_end);
      training_loss(logits, e.layout.labels.to(device)).backward();
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

void print(const char* label, int64_t batch, const Result& r) {
  if (!r.ok) {
    std::printf("%-34s batch %3lld: failed: %s\n", label, static_cast<long long>(batch), r.error.c_str());
    return;
  }
  std::printf("%-34s batch %3lld: %8.3f s/step %10.0f tokens/s  peak %6.1f GiB  MFU %5.1f%%\n", label,
              static_cast<long long>(batch), r.step_s, r.tokens_per_s, r.peak_gib, 100 * r.mfu);
}

ModelConfig load_model(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return model_config_from_json(nlohmann::json::parse(in), path);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "configs/model/1b6.json", device_name = torch::cuda::is_available() ? "cuda" : "cpu",
              zero_model;
  int64_t ctx = 1024, b1 = 8, b2 = 4;
  int steps = 5;
  bool find_max = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (k == "--model") model_path = value();
    else if (k == "--ctx") ctx = std::stoll(value());
    else if (k == "--steps") steps = std::stoi(value());
    else if (k == "--device") device_name = value();
    else if (k == "--stage1-batch") b1 = std::stoll(value());
    else if (k == "--stage2-batch") b2 = std::stoll(value());
    else if (k == "--find-max-batch") find_max = true;
    else if (k == "--zero-memory") zero_model = value();
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  const torch::Device device(device_name);
  const auto mc = load_model(model_path);
  std::printf("model %s (n_layer %lld, n_embd %lld), vision %lldpx, T = %lld, bf16, device %s\n", model_path.c_str(),
              static_cast<long long>(mc.n_layer), static_cast<long long>(mc.n_embd),
              static_cast<long long>(mc.vision.image_size), static_cast<long long>(ctx), device.str().c_str());
  print("stage 1 (projector)", b1, run(mc, 1, b1, ctx, steps, false, device));
  print("stage 2 (blocks, head, projector)", b2, run(mc, 2, b2, ctx, steps, false, device));
  if (find_max) {
    for (bool ckpt : {false, true}) {
      int64_t best = 0;
      for (int64_t b = 4; b <= 512; b *= 2) {
        const auto r = run(mc, 2, b, ctx, 1, ckpt, device);
        print(ckpt ? "stage 2, checkpointing" : "stage 2, no checkpointing", b, r);
        if (!r.ok) break;
        best = b;
      }
      std::printf("largest stage-2 batch (powers of two) %s gradient checkpointing: %lld\n", ckpt ? "with" : "without",
                  static_cast<long long>(best));
    }
  }
  if (!zero_model.empty()) {
    const auto big = load_model(zero_model);
    print("7B stage 2, checkpointing, ZeRO-1 x1", 1, run(big, 2, 1, ctx, 1, true, device));
  }
  return 0;
}
