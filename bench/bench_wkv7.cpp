// WKV7 benchmark: one layer's WKV (forward + backward) through our per-step kernel (model/wkv7.h: the
// CPU kernel, or the CUDA one with --device cuda) and through the chunked formulation
// (model/wkv7_chunked.h: matrix products, autograd backward; its state path in float32 and in split
// bfloat16 products) against the straightforward way to write it,
// a per-step loop of torch ops in float32 differentiated by autograd, on the same inputs in the same run;
// prints the times, tokens/s and the ratios. Also checks that they all agree with the loop, so a fast wrong kernel
// cannot print a good figure.
//
//   bench_wkv7 [--device cpu|cuda] [--dtype fp32|bf16] [--batch B] [--tokens T] [--heads H]
//              [--head-size N] [--reps R] [--threads K]
// Defaults: CPU, fp32, B 1, T 512, H 12, N 64 (one layer of RWKV-7 0.1B), 3 repetitions, all cores.
// Issue 16's CUDA goal: --device cuda --dtype bf16 --batch 4 --tokens 2048 in at most 1.0 ms.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "model/wkv7.h"
#include "model/wkv7_chunked.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int64_t batch = 1, tokens = 512, heads = 12, head_size = 64, reps = 3, threads = 0;
  std::string device = "cpu", dtype = "fp32";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto text = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_wkv7: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto value = [&]() -> int64_t { return std::atoll(text().c_str()); };
    if (arg == "--device") o.device = text();
    else if (arg == "--dtype") o.dtype = text();
    else if (arg == "--batch") o.batch = value();
    else if (arg == "--tokens") o.tokens = value();
    else if (arg == "--heads") o.heads = value();
    else if (arg == "--head-size") o.head_size = value();
    else if (arg == "--reps") o.reps = value();
    else if (arg == "--threads") o.threads = value();
    else {
      std::fprintf(stderr,
                   "usage: bench_wkv7 [--device cpu|cuda] [--dtype fp32|bf16] [--batch B] [--tokens T] [--heads H] "
                   "[--head-size N] [--reps R] [--threads K]\n");
      std::exit(2);
    }
  }
  if (o.batch < 1 || o.tokens < 1 || o.heads < 1 || o.head_size < 1 || o.reps < 1) {
    std::fprintf(stderr, "bench_wkv7: every size must be positive\n");
    std::exit(2);
  }
  if ((o.device != "cpu" && o.device != "cuda") || (o.dtype != "fp32" && o.dtype != "bf16")) {
    std::fprintf(stderr, "bench_wkv7: --device is cpu or cuda, --dtype fp32 or bf16\n");
    std::exit(2);
  }
  if (o.device == "cuda" && !torch::cuda::is_available()) {
    std::fprintf(stderr, "bench_wkv7: --device cuda, but no CUDA device is available\n");
    std::exit(2);
  }
  return o;
}

// The recurrence one step at a time in the inputs' dtype, as one would first write it in PyTorch.
torch::Tensor wkv7_loop(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& alpha, const torch::Tensor& beta, int64_t N) {
  const int64_t B = r.size(0), T = r.size(1), H = r.size(2) / N;
  auto as4 = [&](const torch::Tensor& t) { return t.view({B, T, H, N}); };
  const auto r4 = as4(r), d4 = torch::exp(-torch::exp(as4(w))), k4 = as4(k), v4 = as4(v), a4 = as4(alpha),
             b4 = as4(beta);
  auto S = torch::zeros({B, H, N, N}, r.options());
  std::vector<torch::Tensor> ys;
  ys.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    const auto sa = torch::matmul(S, a4.select(1, t).unsqueeze(-1));  // [B, H, N, 1], old state
    S = S * d4.select(1, t).unsqueeze(-2) + sa * b4.select(1, t).unsqueeze(-2) +
        v4.select(1, t).unsqueeze(-1) * k4.select(1, t).unsqueeze(-2);
    ys.push_back(torch::matmul(S, r4.select(1, t).unsqueeze(-1)).squeeze(-1));
  }
  return torch::stack(ys, 1).reshape({B, T, H * N});
}

struct Inputs {
  std::vector<torch::Tensor> leaves;  // r, w, k, v, alpha, beta
  torch::Tensor dy;
};

// Shaped as the model makes them: w soft-clamped below -0.5, alpha = -kk, beta = kk * a. Made in
// float32 on the CPU, then rounded to the benchmark's dtype and moved to its device.
Inputs make_inputs(const Options& o, torch::Device device, torch::ScalarType type) {
  torch::manual_seed(0);
  const int64_t B = o.batch, T = o.tokens, H = o.heads, N = o.head_size, C = H * N;
  auto kk = torch::randn({B, T, H, N});
  kk = (kk / kk.norm(2, -1, true)).view({B, T, C});
  const auto a = torch::rand({B, T, C});
  Inputs in;
  in.leaves = {torch::randn({B, T, C}), -torch::softplus(-torch::randn({B, T, C})) - 0.5, torch::randn({B, T, C}) * 0.3,
               torch::randn({B, T, C}), -kk, kk * a};
  in.dy = torch::randn({B, T, C}).to(device);
  for (auto& t : in.leaves) t = t.to(device, type);
  return in;
}

using Op = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// Waits for the device's queued work, so the clock measures it.
void sync(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Median seconds of one forward + backward, and the output and input gradients of the last run.
double time_fwd_bwd(const Op& op, const Inputs& in, int64_t reps, torch::Device device, torch::Tensor& y,
                    std::vector<torch::Tensor>& grads) {
  std::vector<double> times;
  for (int64_t rep = 0; rep <= reps; ++rep) {  // rep 0 warms up
    std::vector<torch::Tensor> x;
    for (const auto& t : in.leaves) x.push_back(t.detach().clone().requires_grad_(true));
    sync(device);
    const auto t0 = Clock::now();
    y = op(x);
    y.backward(in.dy.to(y.scalar_type()));
    sync(device);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rep > 0) times.push_back(s);
    grads.clear();
    for (const auto& t : x) grads.push_back(t.grad());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a64 = a.to(torch::kCPU, torch::kFloat64), b64 = b.to(torch::kCPU, torch::kFloat64);
  return ((a64 - b64).norm() / b64.norm()).item<double>();
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  if (o.threads > 0) torch::set_num_threads(static_cast<int>(o.threads));
  const torch::Device device = o.device == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const auto type = o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  const auto in = make_inputs(o, device, type);
  const int64_t N = o.head_size;
  std::printf("WKV7 forward + backward, one layer: B %lld, T %lld, H %lld, N %lld, %s in on %s, %d CPU threads, "
              "median of %lld\n",
              static_cast<long long>(o.batch), static_cast<long long>(o.tokens), static_cast<long long>(o.heads),
              static_cast<long long>(N), o.dtype.c_str(), o.device.c_str(), torch::get_num_threads(),
              static_cast<long long>(o.reps));

  torch::Tensor y_kernel, y_chunked, y_split, y_loop;
  std::vector<torch::Tensor> g_kernel, g_chunked, g_split, g_loop;
  const double t_kernel = time_fwd_bwd(
      [&](const std::vector<torch::Tensor>& x) { return vrwkv::wkv7(x[0], x[1], x[2], x[3], x[4], x[5], N); }, in,
      o.reps, device, y_kernel, g_kernel);
  // The chunked formulation with each kind of state-path product (model/wkv7_chunked.h); the default
  // is split for bf16 on CUDA, float32 otherwise. Off CUDA the split products run widened to float32
  // (the same numbers, three times the work), so the split row's time means something on CUDA only.
  auto chunked = [&](vrwkv::Wkv7StateProducts products) {
    return [&, products](const std::vector<torch::Tensor>& x) {
      return vrwkv::wkv7_chunked(x[0], x[1], x[2], x[3], x[4], x[5], N, {}, products).first;
    };
  };
  const double t_chunked =
      time_fwd_bwd(chunked(vrwkv::Wkv7StateProducts::kFloat32), in, o.reps, device, y_chunked, g_chunked);
  const double t_split =
      time_fwd_bwd(chunked(vrwkv::Wkv7StateProducts::kSplitBfloat16), in, o.reps, device, y_split, g_split);
  const double t_loop = time_fwd_bwd(
      [&](const std::vector<torch::Tensor>& x) {
        std::vector<torch::Tensor> f;
        for (const auto& t : x) f.push_back(t.to(torch::kFloat32));
        return wkv7_loop(f[0], f[1], f[2], f[3], f[4], f[5], N);
      },
      in, o.reps, device, y_loop, g_loop);

  auto worst_grad = [&](const std::vector<torch::Tensor>& g) {
    double worst = 0;
    for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, rel(g[i], g_loop[i]));
    return worst;
  };
  const double tokens = double(o.batch * o.tokens);
  std::printf("  %s kernel      %9.3f ms  %10.0f tokens/s\n", o.device.c_str(), t_kernel * 1e3, tokens / t_kernel);
  std::printf("  chunked         %9.3f ms  %10.0f tokens/s  (float32 state products)\n", t_chunked * 1e3,
              tokens / t_chunked);
  std::printf("  chunked split   %9.3f ms  %10.0f tokens/s  (split bf16 state products%s)\n", t_split * 1e3,
              tokens / t_split, o.device == "cuda" ? "" : ", widened off CUDA");
  std::printf("  torch-op loop   %9.3f ms  %10.0f tokens/s\n", t_loop * 1e3, tokens / t_loop);
  std::printf("  ratio (loop / kernel) %.1fx\n", t_loop / t_kernel);
  std::printf("  ratio (kernel / chunked) %.2fx\n", t_kernel / t_chunked);
  std::printf("  ratio (kernel / chunked split) %.2fx\n", t_kernel / t_split);
  // float32 with different summation orders agrees to ~1e-6; bfloat16 outputs round to 8 bits.
  const double tol_y = type == torch::kBFloat16 ? 2e-2 : 1e-4, tol_g = type == torch::kBFloat16 ? 2e-2 : 1e-3;
  bool agree = true;
  for (const auto& [name, y, g] : {std::tuple{"kernel", &y_kernel, &g_kernel}, {"chunked", &y_chunked, &g_chunked},
        {"chunked split", &y_split, &g_split}}) {
    const double y_error = rel(*y, y_loop), g_error = worst_grad(*g);
    std::printf("  agreement (%s vs loop): y %.2e, worst gradient %.2e (relative)\n", name, y_error, g_error);
    if (y_error > tol_y || g_error > tol_g) {
      std::fprintf(stderr, "bench_wkv7: the %s disagrees with the loop\n", name);
      agree = false;
    }
  }
  return agree ? 0 : 1;
}
