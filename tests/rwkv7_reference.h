// RWKV-7 written a second time, straight from SPEC-v7 sections 2-3, with plain torch ops in float64:
// the reference the WKV7 kernel and the RWKV-7 model are tested against while the original's v7
// fixtures do not exist yet. Every step is spelled out as the spec states it, one time step at a
// time, so autograd through it gives reference gradients too.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace vrwkv::test {

// The WKV7 recurrence (SPEC-v7 section 3), float64. r, w, k, v, alpha, beta: [B, T, H * N];
// `state` [B, H, N, N] (undefined: zeros) is replaced by the state after the last step.
inline torch::Tensor reference_wkv7(const torch::Tensor& r, const torch::Tensor& w, const torch::Tensor& k,
                                    const torch::Tensor& v, const torch::Tensor& alpha, const torch::Tensor& beta,
                                    int64_t N, torch::Tensor* state = nullptr) {
  const int64_t B = r.size(0), T = r.size(1), H = r.size(2) / N;
  auto as4 = [&](const torch::Tensor& t) { return t.to(torch::kFloat64).view({B, T, H, N}); };
  const auto r4 = as4(r), w4 = as4(w), k4 = as4(k), v4 = as4(v), a4 = as4(alpha), b4 = as4(beta);
  auto S = state && state->defined() ? state->to(torch::kFloat64) : torch::zeros({B, H, N, N}, torch::kFloat64);
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < T; ++t) {
    const auto d = torch::exp(-torch::exp(w4.select(1, t)));                  // [B, H, N(j)]
    const auto s = (S * a4.select(1, t).unsqueeze(-2)).sum(-1);                 // S alpha, old state: [B, H, N(i)]
    S = S * d.unsqueeze(-2) + s.unsqueeze(-1) * b4.select(1, t).unsqueeze(-2) +
        v4.select(1, t).unsqueeze(-1) * k4.select(1, t).unsqueeze(-2);
    ys.push_back((S * r4.select(1, t).unsqueeze(-2)).sum(-1));                  // S r, new state
  }
  if (state) *state = S;
  return torch::stack(ys, 1).reshape({B, T, H * N});
}

using Params = std::map<std::string, torch::Tensor>;

inline torch::Tensor shift_ref(const torch::Tensor& x) {
  return torch::cat({torch::zeros_like(x.narrow(1, 0, 1)), x.narrow(1, 0, x.size(1) - 1)}, 1);
}

inline torch::Tensor layer_norm_ref(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    double eps) {
  const auto mean = x.mean(-1, true);
  const auto var = (x - mean).square().mean(-1, true);
  return (x - mean) / torch::sqrt(var + eps) * weight + bias;
}

// The whole RWKV-7 LM (SPEC-v7 sections 2-3) on input embeddings x [B, T, C], given its parameters by
// their state-dict names; the left padding with emb(261) and its removal included. Returns logits.
inline torch::Tensor reference_rwkv7(const Params& p, const torch::Tensor& x_in, int64_t n_layer, int64_t N) {
  auto P = [&](const std::string& name) { return p.at(name).to(torch::kFloat64); };
  const int64_t B = x_in.size(0), T = x_in.size(1), C = x_in.size(2), H = C / N;
  auto x = x_in.to(torch::kFloat64);
  const int64_t pad = (16 - T % 16) % 16;
  if (pad > 0) x = torch::cat({P("emb.weight")[261].expand({B, pad, C}), x}, 1);
  const int64_t Tp = x.size(1);
  torch::Tensor v_first;
  for (int64_t i = 0; i < n_layer; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    if (i == 0) x = layer_norm_ref(x, P(b + "ln0.weight"), P(b + "ln0.bias"), 1e-5);
    // TimeMix
    const std::string a = b + "att.";
    const auto xa_in = layer_norm_ref(x, P(b + "ln1.weight"), P(b + "ln1.bias"), 1e-5);
    const auto delta = shift_ref(xa_in) - xa_in;
    auto mix = [&](const char* name) { return xa_in + delta * P(a + name); };
    const auto xr = mix("x_r"), xw = mix("x_w"), xk = mix("x_k"), xv = mix("x_v"), xa = mix("x_a"), xg = mix("x_g");
    auto lin = [&](const torch::Tensor& t, const std::string& name) { return torch::matmul(t, P(name).t()); };
    const auto r = lin(xr, a + "receptance.weight");
    auto k = lin(xk, a + "key.weight");
    auto v = lin(xv, a + "value.weight");
    const auto w_raw = P(a + "w0") + torch::matmul(torch::tanh(torch::matmul(xw, P(a + "w1"))), P(a + "w2"));
    const auto w = -torch::log1p(torch::exp(-w_raw)) - 0.5;  // -softplus(-w_raw) - 0.5
    if (i == 0) {
      v_first = v;
    } else {
      const auto gate = torch::sigmoid(P(a + "v0") + torch::matmul(torch::matmul(xv, P(a + "v1")), P(a + "v2")));
      v = v + (v_first - v) * gate;
    }
    const auto icl = torch::sigmoid(P(a + "a0") + torch::matmul(torch::matmul(xa, P(a + "a1")), P(a + "a2")));
    const auto g = torch::matmul(torch::sigmoid(torch::matmul(xg, P(a + "g1"))), P(a + "g2"));
    auto kk = (k * P(a + "k_k")).view({B, Tp, H, N});
    kk = (kk / torch::sqrt(kk.square().sum(-1, true)).clamp_min(1e-12)).view({B, Tp, C});
    k = k * (1 + (icl - 1) * P(a + "k_a"));
    auto y = reference_wkv7(r, w, k, v, -kk, kk * icl, N).view({B, Tp, H, N});
    const auto mean = y.mean(-1, true);
    const auto var = (y - mean).square().mean(-1, true);
    y = ((y - mean) / torch::sqrt(var + 6.4e-4)).view({B, Tp, C}) * P(a + "ln_x.weight") + P(a + "ln_x.bias");
    const auto rk = (r.view({B, Tp, H, N}) * k.view({B, Tp, H, N}) * P(a + "r_k")).sum(-1, true);
    y = y + (rk * v.view({B, Tp, H, N})).view({B, Tp, C});
    x = x + lin(y * g, a + "output.weight");
    // ChannelMix
    const auto xf = layer_norm_ref(x, P(b + "ln2.weight"), P(b + "ln2.bias"), 1e-5);
    const auto hidden = torch::relu(lin(xf + (shift_ref(xf) - xf) * P(b + "ffn.x_k"), b + "ffn.key.weight")).square();
    x = x + lin(hidden, b + "ffn.value.weight");
  }
  x = layer_norm_ref(x, P("ln_out.weight"), P("ln_out.bias"), 1e-5);
  return torch::matmul(x, P("head.weight").t()).narrow(1, pad, T);
}

}  // namespace vrwkv::test
