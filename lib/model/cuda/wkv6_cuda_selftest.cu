// Standalone check of the WKV6 CUDA kernels (no torch): forward and backward on the GPU against a
// float64 CPU reference of the same equations, then a timing at the SPEC's benchmark shape.
//
//   wkv6_cuda_selftest [--no-bench]
//
// Prints one line per check and exits 1 if any check fails (2 on a CUDA API error).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "wkv6_kernels.cuh"

namespace {

constexpr int N = static_cast<int>(vrwkv::kWkv6HeadSize);

#define CUDA_OK(expr)                                                                                 \
  do {                                                                                                \
    const cudaError_t err_ = (expr);                                                                  \
    if (err_ != cudaSuccess) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(err_)); \
      std::exit(2);                                                                                   \
    }                                                                                                 \
  } while (0)

int g_passed = 0, g_failed = 0;

void report(bool ok, const std::string& line) {
  std::printf("[%s] %s\n", ok ? "PASS" : "FAIL", line.c_str());
  std::fflush(stdout);
  ++(ok ? g_passed : g_failed);
}

// splitmix64: the same numbers on every platform, unlike the <random> distributions.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  double uniform(double lo, double hi) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return lo + (hi - lo) * (static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0));
  }
};

template <typename S>
struct Type;
template <>
struct Type<float> {
  static constexpr const char* name = "fp32";
  static constexpr double tol = 1e-4;
  static float from(float x) { return x; }
  static float to(float x) { return x; }
};
template <>
struct Type<__nv_bfloat16> {
  static constexpr const char* name = "bf16";
  static constexpr double tol = 2e-2;
  static __nv_bfloat16 from(float x) { return __float2bfloat16_rn(x); }
  static float to(__nv_bfloat16 x) { return __bfloat162float(x); }
};

// Inputs as float, already rounded to the tested type, so that the reference sees what the GPU sees.
struct Problem {
  int B, T, H;
  std::vector<float> r, k, v, w, dy, u;
  size_t size() const { return static_cast<size_t>(B) * T * H * N; }
};

// Decay logits: the spread real models use, or strong decay (w in [0, 2]: each step keeps between
// exp(-1) and exp(-e^2) = 6e-4 of the state), where errors hide behind the largest values.
enum class Decay { kSpread, kStrong };

template <typename S>
Problem make_problem(int B, int T, int H, uint64_t seed, Decay decay = Decay::kSpread) {
  Problem p{B, T, H, {}, {}, {}, {}, {}, {}};
  Rng rng(seed);
  auto rounded = [](double x) { return Type<S>::to(Type<S>::from(static_cast<float>(x))); };
  const size_t n = p.size();
  p.r.resize(n), p.k.resize(n), p.v.resize(n), p.w.resize(n), p.dy.resize(n);
  for (size_t e = 0; e < n; ++e) {
    const int i = static_cast<int>(e % N);
    p.r[e] = rounded(rng.uniform(-1, 1));
    p.k[e] = rounded(rng.uniform(-1, 1));
    p.v[e] = rounded(rng.uniform(-1, 1));
    // Decay logits from -8 (a memory of thousands of steps) to 1 (almost none), channel by channel.
    p.w[e] = rounded(decay == Decay::kStrong ? rng.uniform(0, 2) : -8.0 + 9.0 * i / (N - 1) + rng.uniform(-0.5, 0.5));
    p.dy[e] = rounded(rng.uniform(-1, 1));
  }
  p.u.resize(static_cast<size_t>(H) * N);
  for (auto& x : p.u) x = rounded(rng.uniform(-1, 1));
  return p;
}

struct Result {
  std::vector<double> y, dr, dk, dv, dw, du;
};

// The recurrence and its gradient in float64, straight from the equations, with every state stored.
Result reference(const Problem& p) {
  const int T = p.T, H = p.H;
  const size_t n = p.size(), NN = static_cast<size_t>(N) * N;
  Result out;
  out.y.assign(n, 0), out.dr.assign(n, 0), out.dk.assign(n, 0), out.dv.assign(n, 0), out.dw.assign(n, 0);
  out.du.assign(static_cast<size_t>(H) * N, 0);
  std::vector<double> states((static_cast<size_t>(T) + 1) * NN), grad(NN), d(N);
  for (int b = 0; b < p.B; ++b) {
    for (int h = 0; h < H; ++h) {
      const float* u = p.u.data() + static_cast<size_t>(h) * N;
      auto at = [&](int t) { return ((static_cast<size_t>(b) * T + t) * H + h) * N; };
      std::fill(states.begin(), states.begin() + NN, 0.0);  // states[t] is the state before step t
      for (int t = 0; t < T; ++t) {
        const size_t o = at(t);
        const double* prev = states.data() + t * NN;
        double* next = states.data() + (t + 1) * NN;
        for (int j = 0; j < N; ++j) {
          double acc = 0;
          for (int i = 0; i < N; ++i)
            acc += static_cast<double>(p.r[o + i]) * (double(u[i]) * p.k[o + i] * p.v[o + j] + prev[i * N + j]);
          out.y[o + j] = acc;
        }
        for (int i = 0; i < N; ++i) {
          const double di = std::exp(-std::exp(static_cast<double>(p.w[o + i])));
          for (int j = 0; j < N; ++j) next[i * N + j] = prev[i * N + j] * di + double(p.k[o + i]) * p.v[o + j];
        }
      }
      std::fill(grad.begin(), grad.end(), 0.0);  // dL/d(state after step t)
      for (int t = T - 1; t >= 0; --t) {
        const size_t o = at(t);
        const double* prev = states.data() + t * NN;
        double dyv = 0, ruk = 0;
        for (int j = 0; j < N; ++j) dyv += double(p.dy[o + j]) * p.v[o + j];
        for (int i = 0; i < N; ++i) {
          ruk += double(p.r[o + i]) * u[i] * p.k[o + i];
          d[i] = std::exp(-std::exp(static_cast<double>(p.w[o + i])));
        }
        for (int i = 0; i < N; ++i) {
          double dr = 0, gv = 0, gs = 0;
          for (int j = 0; j < N; ++j) {
            dr += double(p.dy[o + j]) * (double(u[i]) * p.k[o + i] * p.v[o + j] + prev[i * N + j]);
            gv += grad[i * N + j] * p.v[o + j];
            gs += grad[i * N + j] * prev[i * N + j];
          }
          out.dr[o + i] = dr;
          out.dk[o + i] = double(p.r[o + i]) * u[i] * dyv + gv;
          out.dw[o + i] = -std::exp(static_cast<double>(p.w[o + i])) * d[i] * gs;
          out.du[static_cast<size_t>(h) * N + i] += double(p.r[o + i]) * p.k[o + i] * dyv;
        }
        for (int j = 0; j < N; ++j) {
          double acc = ruk * p.dy[o + j];
          for (int i = 0; i < N; ++i) acc += grad[i * N + j] * p.k[o + i];
          out.dv[o + j] = acc;
        }
        for (int i = 0; i < N; ++i)
          for (int j = 0; j < N; ++j)
            grad[i * N + j] = grad[i * N + j] * d[i] + double(p.r[o + i]) * p.dy[o + j];
      }
    }
  }
  return out;
}

template <typename S>
struct DeviceBuffer {
  S* ptr = nullptr;
  size_t count = 0;
  explicit DeviceBuffer(size_t n) : count(n) { CUDA_OK(cudaMalloc(&ptr, n ? n * sizeof(S) : 1)); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  size_t bytes() const { return count * sizeof(S); }
  // All-ones bytes are a NaN in float32 and in bfloat16: an element left unwritten shows.
  void poison() { CUDA_OK(cudaMemset(ptr, 0xFF, bytes())); }
  void upload(const std::vector<float>& host) {
    std::vector<S> tmp(host.size());
    for (size_t e = 0; e < host.size(); ++e) tmp[e] = Type<S>::from(host[e]);
    CUDA_OK(cudaMemcpy(ptr, tmp.data(), bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<double> download() const {
    std::vector<S> tmp(count);
    CUDA_OK(cudaMemcpy(tmp.data(), ptr, bytes(), cudaMemcpyDeviceToHost));
    std::vector<double> out(count);
    for (size_t e = 0; e < count; ++e) out[e] = Type<S>::to(tmp[e]);
    return out;
  }
};

std::string shape_name(const char* type, int B, int T, int H) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s B=%d T=%d H=%d N=%d", type, B, T, H, N);
  return buf;
}

// Error relative to the largest reference magnitude of the tensor (robust to elements near zero).
void compare(const std::string& what, const std::vector<double>& got, const std::vector<double>& want, double tol) {
  size_t unwritten = 0;
  double max_diff = 0, max_ref = 0;
  for (size_t e = 0; e < want.size(); ++e) {
    if (!std::isfinite(got[e])) {
      ++unwritten;
      continue;
    }
    max_diff = std::max(max_diff, std::fabs(got[e] - want[e]));
    max_ref = std::max(max_ref, std::fabs(want[e]));
  }
  // An all-zero reference (dw at T = 1) must be matched exactly.
  const double rel = max_ref > 0 ? max_diff / max_ref : (max_diff == 0 ? 0.0 : HUGE_VAL);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-26s max|diff|/max|ref| = %.3e (tol %.0e, max|ref| %.3e), %zu of %zu elements unwritten",
                what.c_str(), rel, tol, max_ref, unwritten, want.size());
  report(unwritten == 0 && rel <= tol, buf);
}

// Element by element: |got - want| <= tol * (|want| + 0.1 * max|want|) for every element, so a
// small value computed wrongly fails even next to large ones.
void compare_elements(const std::string& what, const std::vector<double>& got, const std::vector<double>& want,
                      double tol) {
  double max_ref = 0;
  for (double x : want) max_ref = std::max(max_ref, std::fabs(x));
  size_t bad = 0, worst = 0;
  double worst_excess = 0;
  for (size_t e = 0; e < want.size(); ++e) {
    const double bound = tol * (std::fabs(want[e]) + 0.1 * max_ref);
    const double diff = std::fabs(got[e] - want[e]);
    if (!(diff <= bound)) {  // NaN fails too
      ++bad;
      if (!(diff / (bound > 0 ? bound : 1) <= worst_excess)) worst_excess = diff / (bound > 0 ? bound : 1), worst = e;
    }
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-26s element-wise (tol %.0e): %zu of %zu outside%s", what.c_str(), tol, bad,
                want.size(), bad ? (", worst at " + std::to_string(worst)).c_str() : "");
  report(bad == 0, buf);
}

template <typename S>
void check_case(int B, int T, int H, uint64_t seed, Decay decay = Decay::kSpread) {
  const Problem p = make_problem<S>(B, T, H, seed, decay);
  const Result want = reference(p);
  const size_t n = p.size();
  DeviceBuffer<S> r(n), k(n), v(n), w(n), dy(n), y(n), dr(n), dk(n), dv(n), dw(n);
  DeviceBuffer<float> u(p.u.size()), du(p.u.size());
  DeviceBuffer<unsigned char> ws(vrwkv::wkv6_backward_workspace_bytes(B, T, H));
  r.upload(p.r), k.upload(p.k), v.upload(p.v), w.upload(p.w), dy.upload(p.dy);
  CUDA_OK(cudaMemcpy(u.ptr, p.u.data(), u.bytes(), cudaMemcpyHostToDevice));
  for (auto* buf : {&y, &dr, &dk, &dv, &dw}) buf->poison();
  du.poison();
  ws.poison();  // a pass that reads scratch another pass did not write gives NaN

  CUDA_OK(vrwkv::wkv6_forward_cuda<S>(r.ptr, k.ptr, v.ptr, w.ptr, u.ptr, y.ptr, B, T, H, N, nullptr));
  CUDA_OK(vrwkv::wkv6_backward_cuda<S>(r.ptr, k.ptr, v.ptr, w.ptr, u.ptr, dy.ptr, dr.ptr, dk.ptr, dv.ptr, dw.ptr,
                                       du.ptr, ws.ptr, ws.bytes(), B, T, H, N, nullptr));
  CUDA_OK(cudaDeviceSynchronize());

  const std::string name = shape_name(Type<S>::name, B, T, H) + (decay == Decay::kStrong ? " strong" : "");
  const double tol = Type<S>::tol;
  auto check = [&](const char* what, const std::vector<double>& got, const std::vector<double>& ref) {
    compare(name + " " + what, got, ref, tol);
    if (decay == Decay::kStrong) compare_elements(name + " " + what, got, ref, tol);
  };
  check("y", y.download(), want.y);
  check("dr", dr.download(), want.dr);
  check("dk", dk.download(), want.dk);
  check("dv", dv.download(), want.dv);
  check("dw", dw.download(), want.dw);
  check("du", du.download(), want.du);
}

// The launchers refuse what the kernels cannot do, without launching, and handle T = 0.
void check_arguments() {
  DeviceBuffer<float> a(static_cast<size_t>(N) * 2), du(N);
  const cudaError_t bad_n = vrwkv::wkv6_forward_cuda<float>(a.ptr, a.ptr, a.ptr, a.ptr, a.ptr, a.ptr, 1, 1, 4, 32,
                                                            nullptr);
  report(bad_n == cudaErrorInvalidValue, "forward rejects head size 32 (cudaErrorInvalidValue)");
  const cudaError_t small_ws = vrwkv::wkv6_backward_cuda<float>(a.ptr, a.ptr, a.ptr, a.ptr, a.ptr, a.ptr, a.ptr,
                                                                a.ptr, a.ptr, a.ptr, du.ptr, a.ptr, 16, 1, 2, 1, N,
                                                                nullptr);
  report(small_ws == cudaErrorInvalidValue, "backward rejects a workspace that is too small");
  du.poison();
  CUDA_OK(vrwkv::wkv6_backward_cuda<float>(nullptr, nullptr, nullptr, nullptr, a.ptr, nullptr, nullptr, nullptr,
                                           nullptr, nullptr, du.ptr, nullptr, 0, 2, 0, 1, N, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<double> got = du.download();
  bool zero = true;
  for (double x : got) zero = zero && x == 0.0;
  report(zero, "backward with T = 0 writes du = 0");
  report(cudaGetLastError() == cudaSuccess, "no launch error left behind");
}

template <typename S>
void bench(int B, int T, int H) {
  const Problem p = make_problem<S>(B, T, H, 7);
  const size_t n = p.size();
  DeviceBuffer<S> r(n), k(n), v(n), w(n), dy(n), y(n), dr(n), dk(n), dv(n), dw(n);
  DeviceBuffer<float> u(p.u.size()), du(p.u.size());
  DeviceBuffer<unsigned char> ws(vrwkv::wkv6_backward_workspace_bytes(B, T, H));
  r.upload(p.r), k.upload(p.k), v.upload(p.v), w.upload(p.w), dy.upload(p.dy);
  CUDA_OK(cudaMemcpy(u.ptr, p.u.data(), u.bytes(), cudaMemcpyHostToDevice));
  auto forward = [&] { CUDA_OK(vrwkv::wkv6_forward_cuda<S>(r.ptr, k.ptr, v.ptr, w.ptr, u.ptr, y.ptr, B, T, H, N, nullptr)); };
  auto backward = [&] {
    CUDA_OK(vrwkv::wkv6_backward_cuda<S>(r.ptr, k.ptr, v.ptr, w.ptr, u.ptr, dy.ptr, dr.ptr, dk.ptr, dv.ptr, dw.ptr,
                                         du.ptr, ws.ptr, ws.bytes(), B, T, H, N, nullptr));
  };
  for (int i = 0; i < 3; ++i) forward(), backward();
  CUDA_OK(cudaDeviceSynchronize());

  constexpr int kIters = 20;
  cudaEvent_t e0, e1, e2;
  CUDA_OK(cudaEventCreate(&e0));
  CUDA_OK(cudaEventCreate(&e1));
  CUDA_OK(cudaEventCreate(&e2));
  float fwd_ms = 0, bwd_ms = 0;
  for (int i = 0; i < kIters; ++i) {
    CUDA_OK(cudaEventRecord(e0));
    forward();
    CUDA_OK(cudaEventRecord(e1));
    backward();
    CUDA_OK(cudaEventRecord(e2));
    CUDA_OK(cudaEventSynchronize(e2));
    float a = 0, b = 0;
    CUDA_OK(cudaEventElapsedTime(&a, e0, e1));
    CUDA_OK(cudaEventElapsedTime(&b, e1, e2));
    fwd_ms += a, bwd_ms += b;
  }
  CUDA_OK(cudaEventDestroy(e0));
  CUDA_OK(cudaEventDestroy(e1));
  CUDA_OK(cudaEventDestroy(e2));
  std::printf("[TIME] %s: forward %.3f ms, backward %.3f ms, forward+backward %.3f ms (mean of %d)\n",
              shape_name(Type<S>::name, B, T, H).c_str(), fwd_ms / kIters, bwd_ms / kIters,
              (fwd_ms + bwd_ms) / kIters, kIters);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool run_bench = true;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--no-bench") == 0) {
      run_bench = false;
    } else {
      std::fprintf(stderr, "usage: %s [--no-bench]\n", argv[0]);
      return 2;
    }
  }
  int device = 0;
  CUDA_OK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, device));
  std::printf("device %d: %s (sm_%d%d)\n", device, prop.name, prop.major, prop.minor);

  check_arguments();
  const int shapes[][3] = {{1, 1, 1}, {2, 67, 3}, {1, 1024, 2}};
  uint64_t seed = 1;
  for (const auto& s : shapes) check_case<float>(s[0], s[1], s[2], seed++);
  for (const auto& s : shapes) check_case<__nv_bfloat16>(s[0], s[1], s[2], seed++);
  check_case<float>(2, 300, 2, seed++, Decay::kStrong);
  check_case<__nv_bfloat16>(2, 300, 2, seed++, Decay::kStrong);
  if (run_bench) {
    bench<__nv_bfloat16>(4, 1024, 32);
    bench<float>(4, 1024, 32);
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
