// v7's vision towers written a second time from SPEC-v7 section 5 (and the timm / SAM conventions it
// names), in float64 and one image at a time: every patch, head, query, window and pixel is spelled
// out with its index arithmetic, so a layout mistake in the library (a transposed qkv split, a
// window order, a relative offset, the space-to-depth channel order) shows up as a mismatch. No v7
// fixture of the original's exists yet; these references are what the towers are tested against.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace vrwkv::test {

using TowerParams = std::map<std::string, torch::Tensor>;

// A module's parameters in float64 on the CPU, by name.
inline TowerParams params_of(const torch::nn::Module& m) {
  TowerParams p;
  for (const auto& item : m.named_parameters()) p[item.key()] = item.value().detach().to(torch::kFloat64);
  return p;
}

// Rows of x [L, D], each normalised by its own mean and biased variance.
inline torch::Tensor ref_layer_norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double eps) {
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const auto r = x[i];
    const double mean = r.mean().item<double>();
    const double var = ((r - mean) * (r - mean)).mean().item<double>();
    rows.push_back((r - mean) / std::sqrt(var + eps) * w + b);
  }
  return torch::stack(rows);
}

inline torch::Tensor ref_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto y = torch::matmul(x, w.t());
  return b.defined() ? y + b : y;
}

// Exact GELU: x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)).
inline torch::Tensor ref_gelu(const torch::Tensor& x) { return 0.5 * x * (1.0 + torch::erf(x / std::sqrt(2.0))); }

// A stride-p conv over [3, S, S]: token (gy, gx), row-major, is W [D, 3*p*p] . patch (c, ky, kx) + bias.
inline torch::Tensor ref_patches(const torch::Tensor& image, const torch::Tensor& w, const torch::Tensor& b, int64_t p) {
  const int64_t g = image.size(1) / p, D = w.size(0);
  const auto W = w.reshape({D, -1});
  std::vector<torch::Tensor> tokens;
  for (int64_t gy = 0; gy < g; ++gy)
    for (int64_t gx = 0; gx < g; ++gx)
      tokens.push_back(torch::matmul(W, image.narrow(1, gy * p, p).narrow(2, gx * p, p).reshape({-1})) + b);
  return torch::stack(tokens);  // [g*g, D]
}

// Multi-head attention over tokens [L, D]: q, k, v of head h are columns [h*hd, (h+1)*hd) of the
// three D-wide thirds of qkv. `bias(h, i, j, q_i)` adds to the score of query i on key j.
template <typename Bias>
torch::Tensor ref_attention(const torch::Tensor& x, const TowerParams& P, const std::string& at, int64_t heads, Bias bias) {
  const int64_t L = x.size(0), D = x.size(1), hd = D / heads;
  const auto qkv = ref_linear(x, P.at(at + "qkv.weight"), P.at(at + "qkv.bias"));
  auto out = torch::zeros({L, D}, torch::kFloat64);
  for (int64_t h = 0; h < heads; ++h) {
    const auto q = qkv.narrow(1, h * hd, hd), k = qkv.narrow(1, D + h * hd, hd), v = qkv.narrow(1, 2 * D + h * hd, hd);
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> s(L);
      double top = -1e300;
      for (int64_t j = 0; j < L; ++j) {
        s[j] = (q[i] * k[j]).sum().item<double>() / std::sqrt(double(hd)) + bias(h, i, j, q[i]);
        top = std::max(top, s[j]);
      }
      double total = 0;
      for (auto& e : s) total += (e = std::exp(e - top));
      auto o = torch::zeros({hd}, torch::kFloat64);
      for (int64_t j = 0; j < L; ++j) o += s[j] / total * v[j];
      out[i].narrow(0, h * hd, hd).copy_(o);
    }
  }
  return ref_linear(out, P.at(at + "proj.weight"), P.at(at + "proj.bias"));
}

// The timm ViT tower on one image [3, S, S]: patches + pos_embed, then [cls, registers, patches],
// blocks 0 .. output_block, prefix dropped.
inline torch::Tensor reference_vit_tower(const torch::Tensor& image, const TowerParams& P, int64_t patch,
                                         int64_t heads, int64_t output_block, int64_t registers, bool cls,
                                         bool layer_scale, double eps) {
  auto x = ref_patches(image, P.at("patch_embed.proj.weight"), P.at("patch_embed.proj.bias"), patch) + P.at("pos_embed")[0];
  std::vector<torch::Tensor> parts;
  if (cls) parts.push_back(P.at("cls_token")[0]);
  if (registers > 0) parts.push_back(P.at("reg_token")[0]);
  parts.push_back(x);
  x = torch::cat(parts, 0);
  const int64_t prefix = (cls ? 1 : 0) + registers;
  for (int64_t b = 0; b <= output_block; ++b) {
    const std::string at = "blocks." + std::to_string(b) + ".";
    auto a = ref_attention(ref_layer_norm(x, P.at(at + "norm1.weight"), P.at(at + "norm1.bias"), eps), P,
                           at + "attn.", heads, [](int64_t, int64_t, int64_t, const torch::Tensor&) { return 0.0; });
    if (layer_scale) a = a * P.at(at + "ls1.gamma");
    x = x + a;
    const auto h = ref_layer_norm(x, P.at(at + "norm2.weight"), P.at(at + "norm2.bias"), eps);
    auto m = ref_linear(ref_gelu(ref_linear(h, P.at(at + "mlp.fc1.weight"), P.at(at + "mlp.fc1.bias"))),
                        P.at(at + "mlp.fc2.weight"), P.at(at + "mlp.fc2.bias"));
    if (layer_scale) m = m * P.at(at + "ls2.gamma");
    x = x + m;
  }
  return x.narrow(0, prefix, x.size(0) - prefix);
}

// One SAM block's attention on the normalised map [G, G, D] (rows y, columns x). A windowed block
// (window w > 0) pads the map with zeros to multiples of w and attends within each w x w window,
// padded positions included as keys; a global block attends over the whole map. The score of query
// (yi, xi) on key (yj, xj) gains q . rel_pos_h[yi - yj + side - 1] + q . rel_pos_w[xi - xj + side - 1]
// with the unscaled q, window-local coordinates and side = w (or G).
inline torch::Tensor ref_sam_attention(const torch::Tensor& map, const TowerParams& P, const std::string& at,
                                       int64_t heads, int64_t window) {
  const int64_t G = map.size(0), D = map.size(2), hd = D / heads;
  const int64_t side = window > 0 ? window : G;
  const int64_t padded = (G + side - 1) / side * side;
  auto full = torch::zeros({padded, padded, D}, torch::kFloat64);
  full.narrow(0, 0, G).narrow(1, 0, G).copy_(map);
  const auto& rh = P.at(at + "rel_pos_h");
  const auto& rw = P.at(at + "rel_pos_w");
  auto out = torch::zeros({G, G, D}, torch::kFloat64);
  for (int64_t wy = 0; wy < padded; wy += side)
    for (int64_t wx = 0; wx < padded; wx += side) {
      const auto tokens = full.narrow(0, wy, side).narrow(1, wx, side).reshape({side * side, D});
      // The relative terms use the unscaled query of the same qkv projection.
      const auto qkv = ref_linear(tokens, P.at(at + "qkv.weight"), P.at(at + "qkv.bias"));
      const auto att = ref_attention(tokens, P, at, heads, [&](int64_t h, int64_t i, int64_t j, const torch::Tensor&) {
        const auto q = qkv[i].narrow(0, h * hd, hd);
        const int64_t yi = i / side, xi = i % side, yj = j / side, xj = j % side;
        return (q * rh[yi - yj + side - 1]).sum().item<double>() + (q * rw[xi - xj + side - 1]).sum().item<double>();
      });
      for (int64_t i = 0; i < side * side; ++i) {
        const int64_t y = wy + i / side, x = wx + i % side;
        if (y < G && x < G) out[y][x].copy_(att[i]);
      }
    }
  return out;
}

// LayerNorm2d on [C, H, W]: each pixel's channels normalised.
inline torch::Tensor ref_layer_norm_2d(const torch::Tensor& m, const torch::Tensor& w, const torch::Tensor& b, double eps) {
  const int64_t C = m.size(0), H = m.size(1), W = m.size(2);
  const auto pixels = m.reshape({C, H * W}).t();  // [HW, C]
  return ref_layer_norm(pixels, w, b, eps).t().reshape({C, H, W});
}

// A 3x3 conv (padding 1, no bias) on [C, H, W] as sums over the taps.
inline torch::Tensor ref_conv3x3(const torch::Tensor& m, const torch::Tensor& w) {
  const int64_t H = m.size(1), W = m.size(2), O = w.size(0);
  auto out = torch::zeros({O, H, W}, torch::kFloat64);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          if (y + dy < 0 || y + dy >= H || x + dx < 0 || x + dx >= W) continue;
          out.select(1, y).select(1, x) += torch::matmul(w.select(2, dy + 1).select(2, dx + 1), m.select(1, y + dy).select(1, x + dx));
        }
  return out;
}

// SAM's encoder on one image, through the neck and space-to-depth: tokens [(G/2)^2, 4 * neck].
inline torch::Tensor reference_sam_encoder(const torch::Tensor& image, const TowerParams& P, int64_t patch,
                                           int64_t heads, int64_t window, const std::vector<int64_t>& global_blocks,
                                           int64_t depth, double eps) {
  const auto tokens = ref_patches(image, P.at("patch_embed.proj.weight"), P.at("patch_embed.proj.bias"), patch);
  const int64_t G = image.size(1) / patch, D = tokens.size(1);
  auto x = tokens.reshape({G, G, D}) + P.at("pos_embed")[0];
  for (int64_t b = 0; b < depth; ++b) {
    const std::string at = "blocks." + std::to_string(b) + ".";
    const bool global = std::find(global_blocks.begin(), global_blocks.end(), b) != global_blocks.end();
    const auto h = ref_layer_norm(x.reshape({G * G, D}), P.at(at + "norm1.weight"), P.at(at + "norm1.bias"), eps);
    x = x + ref_sam_attention(h.reshape({G, G, D}), P, at + "attn.", heads, global ? 0 : window);
    const auto flat = x.reshape({G * G, D});
    const auto n2 = ref_layer_norm(flat, P.at(at + "norm2.weight"), P.at(at + "norm2.bias"), eps);
    const auto m = ref_linear(ref_gelu(ref_linear(n2, P.at(at + "mlp.lin1.weight"), P.at(at + "mlp.lin1.bias"))),
                              P.at(at + "mlp.lin2.weight"), P.at(at + "mlp.lin2.bias"));
    x = (flat + m).reshape({G, G, D});
  }
  // Neck: 1x1 conv (a per-pixel linear map), LayerNorm2d, 3x3 conv, LayerNorm2d.
  const auto w0 = P.at("neck.0.weight");
  const int64_t C = w0.size(0);
  auto m = torch::matmul(x.reshape({G * G, D}), w0.reshape({C, D}).t()).t().reshape({C, G, G});
  m = ref_layer_norm_2d(m, P.at("neck.1.weight"), P.at("neck.1.bias"), eps);
  m = ref_conv3x3(m, P.at("neck.2.weight"));
  m = ref_layer_norm_2d(m, P.at("neck.3.weight"), P.at("neck.3.bias"), eps);
  // Space-to-depth: out[4c + 2dy + dx, y, x] = in[c, 2y + dy, 2x + dx]; token 32y + x (here S y + x).
  const int64_t S = G / 2;
  auto out = torch::zeros({S * S, 4 * C}, torch::kFloat64);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t dy = 0; dy < 2; ++dy)
      for (int64_t dx = 0; dx < 2; ++dx)
        for (int64_t y = 0; y < S; ++y)
          for (int64_t xx = 0; xx < S; ++xx) out[y * S + xx][4 * c + 2 * dy + dx] = m[c][2 * y + dy][2 * xx + dx];
  return out;
}

// PyTorch's antialiased bicubic resize (align_corners false), the PIL-style filter with a = -0.5
// whose support widens by the scale when shrinking, weights renormalised at the borders; the
// weights of output index i over an input of n samples resized to m.
inline std::vector<std::pair<int64_t, double>> ref_aa_bicubic_weights(int64_t i, int64_t n, int64_t m) {
  const double scale = double(n) / double(m);
  const double support = 2.0 * std::max(scale, 1.0);
  const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
  const double center = scale * (i + 0.5);
  const auto cubic = [](double x) {
    const double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
  };
  const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
  const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), n);
  std::vector<std::pair<int64_t, double>> w;
  double total = 0;
  for (int64_t j = lo; j < hi; ++j) {
    w.emplace_back(j, cubic((j - center + 0.5) * inv));
    total += w.back().second;
  }
  for (auto& e : w) e.second /= total;
  return w;
}

// A patch-only position embedding [1, n*n, D] resampled to [1, m*m, D] with those weights, per axis.
inline torch::Tensor reference_resample(const torch::Tensor& pos, int64_t m) {
  const int64_t D = pos.size(2);
  const auto n = int64_t(std::llround(std::sqrt(double(pos.size(1)))));
  const auto grid = pos.to(torch::kFloat64).reshape({n, n, D});
  auto out = torch::zeros({m, m, D}, torch::kFloat64);
  for (int64_t y = 0; y < m; ++y)
    for (int64_t x = 0; x < m; ++x)
      for (const auto& [sy, wy] : ref_aa_bicubic_weights(y, n, m))
        for (const auto& [sx, wx] : ref_aa_bicubic_weights(x, n, m)) out[y][x] += wy * wx * grid[sy][sx];
  return out.reshape({1, m * m, D});
}

// v7's pooling, AdaptiveAvgPool2d by its definition: bin i of s covers [floor(i * n / s), ceil((i + 1) * n / s)).
inline torch::Tensor reference_adaptive_pool(const torch::Tensor& features, int64_t s) {
  const int64_t N = features.size(0), P = features.size(1), D = features.size(2);
  const auto n = static_cast<int64_t>(std::llround(std::sqrt(double(P))));
  const auto grid = features.to(torch::kFloat64).view({N, n, n, D});
  std::vector<torch::Tensor> tokens;
  for (int64_t i = 0; i < s; ++i) {
    const int64_t r0 = (i * n) / s, r1 = ((i + 1) * n + s - 1) / s;
    for (int64_t j = 0; j < s; ++j) {
      const int64_t c0 = (j * n) / s, c1 = ((j + 1) * n + s - 1) / s;
      tokens.push_back(grid.narrow(1, r0, r1 - r0).narrow(2, c0, c1 - c0).mean({1, 2}));
    }
  }
  return torch::stack(tokens, 1);  // [N, s * s, D], row-major
}

}  // namespace vrwkv::test
