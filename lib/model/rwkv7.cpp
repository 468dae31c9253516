#include "model/rwkv7.h"

#include <cmath>

#include "base/error.h"
#include "model/layers.h"
#include "model/token_shift.h"
#include "model/wkv7.h"
#include "model/wkv7_chunked.h"

namespace vrwkv {
namespace {

using layers::as_mix;
using layers::layer_norm;
using layers::linear;
using layers::ramp;

// A LoRA factor [rows, cols] orthogonal (torch orthogonal_) and scaled by 0.1. The original's gain
// sqrt(rows / cols) applies only when rows > cols, which its shapes never have.
torch::Tensor orthogonal_lora(int64_t rows, int64_t cols) {
  auto t = torch::empty({rows, cols});
  torch::nn::init::orthogonal_(t, rows > cols ? std::sqrt(double(rows) / double(cols)) : 1.0);
  return t * 0.1;
}

void uniform_weight(torch::nn::Linear& l, double bound) {
  torch::NoGradGuard no_grad;
  l->weight.uniform_(-bound, bound);
}

void zero_weight(torch::nn::Linear& l) {
  torch::NoGradGuard no_grad;
  l->weight.zero_();
}

// [B, T, C] <-> [B, T, H, N].
torch::Tensor per_head(const torch::Tensor& x, int64_t H) { return x.view({x.size(0), x.size(1), H, -1}); }

}  // namespace

TimeMix7Impl::TimeMix7Impl(const Rwkv7Config& c, int64_t layer_id)
    : layer_id(layer_id), n_head(c.n_head()), head_size(c.head_size), wkv_kernel(c.wkv_kernel) {
  const int64_t C = c.n_embd;
  const double L = double(c.n_layer);
  const double r0 = c.n_layer > 1 ? layer_id / (L - 1) : 0.0;  // 0 at the first layer, 1 at the last
  const double r1 = 1.0 - layer_id / L;                        // 1 at the first layer, near 0 at the last
  const auto d = ramp(C);
  x_r = register_parameter("x_r", as_mix(1.0 - d.pow(0.2 * r1)));
  x_w = register_parameter("x_w", as_mix(1.0 - d.pow(0.9 * r1)));
  x_k = register_parameter("x_k", as_mix(1.0 - (d.pow(0.9 * r1) + 0.4 * r0)));
  x_v = register_parameter("x_v", as_mix(1.0 - (d.pow(0.4 * r1) + 0.6 * r0)));
  x_a = register_parameter("x_a", as_mix(1.0 - d.pow(0.9 * r1)));
  x_g = register_parameter("x_g", as_mix(1.0 - d.pow(0.2 * r1)));
  const auto n = torch::arange(C, torch::kFloat64) / double(std::max<int64_t>(C - 1, 1));
  w1 = register_parameter("w1", torch::zeros({C, c.d_decay}));
  w2 = register_parameter("w2", orthogonal_lora(c.d_decay, C));
  w0 = register_parameter("w0", as_mix(-7.0 + 5.0 * n.pow(0.85 + std::sqrt(r0)) + 0.5));
  a1 = register_parameter("a1", torch::zeros({C, c.d_aaa}));
  a2 = register_parameter("a2", orthogonal_lora(c.d_aaa, C));
  a0 = register_parameter("a0", torch::zeros({1, 1, C}));
  if (layer_id > 0) {  // layer 0 is where v_first comes from: it has no residual gate
    v1 = register_parameter("v1", torch::zeros({C, c.d_mv}));
    v2 = register_parameter("v2", orthogonal_lora(c.d_mv, C));
    v0 = register_parameter("v0", torch::ones({1, 1, C}));
  }
  g1 = register_parameter("g1", torch::zeros({C, c.d_gate}));
  g2 = register_parameter("g2", orthogonal_lora(c.d_gate, C));
  k_k = register_parameter("k_k", torch::full({1, 1, C}, 0.85));
  k_a = register_parameter("k_a", torch::ones({1, 1, C}));
  r_k = register_parameter("r_k", torch::zeros({n_head, head_size}));
  receptance = register_module("receptance", linear(C, C));
  key = register_module("key", linear(C, C));
  value = register_module("value", linear(C, C));
  output = register_module("output", linear(C, C));
  ln_x = register_module("ln_x", layers::head_group_norm(n_head, C));
  const double s = 1.0 / std::sqrt(double(C));
  uniform_weight(receptance, 0.5 * s);
  uniform_weight(key, 0.05 * s);
  uniform_weight(value, 0.5 * s);
  zero_weight(output);
}

torch::Tensor TimeMix7Impl::forward(const torch::Tensor& x, torch::Tensor& v_first, LayerState* state, bool fresh) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_head;
  const auto xx = shifted(x, state, &LayerState::att_shift, fresh) - x;
  const auto xr = x + xx * x_r, xw = x + xx * x_w, xk = x + xx * x_k;
  const auto xv = x + xx * x_v, xa = x + xx * x_a, xg = x + xx * x_g;
  const auto r = receptance(xr);
  // A soft clamp into (-inf, -0.5): the kernel's decay exp(-exp(w)) stays in (0.545, 1).
  const auto w = -torch::softplus(-(w0 + torch::matmul(torch::tanh(torch::matmul(xw, w1)), w2))) - 0.5;
  auto k = key(xk);
  auto v = value(xv);
  if (layer_id == 0) {
    v_first = v;
  } else {
    VRWKV_CHECK(v_first.defined(), "RWKV-7 layer ", layer_id, " needs the value of layer 0 (v_first)");
    v = v + (v_first - v) * torch::sigmoid(v0 + torch::matmul(torch::matmul(xv, v1), v2));
  }
  const auto a = torch::sigmoid(a0 + torch::matmul(torch::matmul(xa, a1), a2));  // in-context learning rate
  const auto g = torch::matmul(torch::sigmoid(torch::matmul(xg, g1)), g2);
  // kk: k * k_k with each head's slice divided by max(||.||, 1e-12), as F.normalize.
  const auto kk_raw = per_head(k * k_k, H);
  const auto kk = (kk_raw / kk_raw.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12)).view({B, T, C});
  k = k * (1 + (a - 1) * k_a);
  torch::Tensor y;
  if (state) {
    if (fresh || !state->wkv.defined()) state->wkv = torch::Tensor();
    // Decoding: no graph through the state, which stays on the model's device. Single tokens take the
    // per-step kernel whatever the choice: a chunk of one step is all padding.
    torch::NoGradGuard no_grad;
    auto [out, next] = wkv_kernel == Wkv7Kernel::kChunked && T > 1
                           ? wkv7_chunked(r, w, k, v, -kk, kk * a, head_size, state->wkv)
                           : wkv7_forward_from_state(r, w, k, v, -kk, kk * a, head_size, state->wkv);
    y = out;
    state->wkv = next;
  } else if (wkv_kernel == Wkv7Kernel::kChunked) {
    y = wkv7_chunked(r, w, k, v, -kk, kk * a, head_size).first;
  } else {
    y = wkv7(r, w, k, v, -kk, kk * a, head_size);
  }
  y = ln_x(y.reshape({B * T, C})).view({B, T, C});
  // The bonus: per head, (sum_j r_j k_j r_k[h, j]) v.
  const auto bonus = (per_head(r, H) * per_head(k, H) * r_k).sum(-1, /*keepdim=*/true) * per_head(v, H);
  y = y + bonus.view({B, T, C});
  if (state) state->att_shift = last_position(x);
  return output(y * g);
}

ChannelMix7Impl::ChannelMix7Impl(const Rwkv7Config& c, int64_t layer_id) {
  const int64_t C = c.n_embd;
  const double r1 = 1.0 - layer_id / double(c.n_layer);
  x_k = register_parameter("x_k", as_mix(1.0 - ramp(C).pow(std::pow(r1, 4.0))));
  key = register_module("key", linear(C, c.dim_ffn()));
  value = register_module("value", linear(c.dim_ffn(), C));
  uniform_weight(key, 0.5 / std::sqrt(double(C)));
  zero_weight(value);
}

torch::Tensor ChannelMix7Impl::forward(const torch::Tensor& x, LayerState* state, bool fresh) {
  const auto xx = shifted(x, state, &LayerState::ffn_shift, fresh) - x;
  const auto h = torch::relu(key(x + xx * x_k)).square();
  if (state) state->ffn_shift = last_position(x);
  return value(h);
}

Block7Impl::Block7Impl(const Rwkv7Config& c, int64_t layer_id) : layer_id(layer_id) {
  if (layer_id == 0) ln0 = register_module("ln0", layer_norm(c.n_embd));
  ln1 = register_module("ln1", layer_norm(c.n_embd));
  ln2 = register_module("ln2", layer_norm(c.n_embd));
  att = register_module("att", TimeMix7(c, layer_id));
  ffn = register_module("ffn", ChannelMix7(c, layer_id));
}

torch::Tensor Block7Impl::forward(torch::Tensor x, torch::Tensor& v_first, LayerState* state, bool fresh) {
  if (ln0) x = ln0(x);
  x = x + att->forward(ln1(x), v_first, state, fresh);
  return x + ffn->forward(ln2(x), state, fresh);
}

namespace {

// A block run without recording a graph (SPEC-v7 section 9's grad_cp, per block as DeepSpeed's
// activation checkpointing): its inputs are kept and backward runs it again with autograd. Beside x
// it carries the value residual: layer 0 returns v_first as a second output, later layers take it
// as a second input (so its gradient reaches layer 0 through every block that read it). The block
// is deterministic, so the gradients are those of running without checkpointing.
class CheckpointedBlock7 : public torch::autograd::Function<CheckpointedBlock7> {
 public:
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                              const torch::Tensor& v_first, torch::TensorList params,
                                              int64_t block_address) {
    ctx->save_for_backward({x, v_first});
    ctx->saved_data["block"] = block_address;
    torch::NoGradGuard no_grad;
    auto* block = reinterpret_cast<Block7Impl*>(block_address);
    torch::Tensor v = block->layer_id == 0 ? torch::Tensor() : v_first;
    auto y = block->forward(x, v);
    if (block->layer_id == 0) return {y, v};
    return {y};
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto* block = reinterpret_cast<Block7Impl*>(ctx->saved_data["block"].toInt());
    const auto saved = ctx->get_saved_variables();
    const bool first = block->layer_id == 0;
    const auto x = saved[0].detach().requires_grad_(true);
    torch::Tensor v_in = first ? torch::Tensor() : saved[1].detach().requires_grad_(true);
    std::vector<torch::Tensor> inputs = {x};
    if (!first) inputs.push_back(v_in);
    std::vector<torch::Tensor> params;
    for (const auto& p : block->parameters())
      if (p.requires_grad()) params.push_back(p);
    inputs.insert(inputs.end(), params.begin(), params.end());
    std::vector<torch::Tensor> outputs, out_grads;
    {
      torch::AutoGradMode enable(true);
      torch::Tensor v = v_in;
      outputs.push_back(block->forward(x, v));
      if (first) outputs.push_back(v);
    }
    for (size_t i = 0; i < outputs.size(); ++i)
      out_grads.push_back(grads[i].defined() ? grads[i] : torch::zeros_like(outputs[i]));
    const auto g = torch::autograd::grad(outputs, inputs, out_grads, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
    torch::autograd::tensor_list out = {g[0], first ? torch::Tensor() : g[1]};
    out.insert(out.end(), g.begin() + (first ? 1 : 2), g.end());
    out.emplace_back();  // block_address
    return out;
  }
};

torch::Tensor run_block7(Block7Impl& block, const torch::Tensor& x, torch::Tensor& v_first, bool checkpoint) {
  if (!checkpoint || !torch::GradMode::is_enabled()) return block.forward(x, v_first);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : block.parameters())
    if (p.requires_grad()) trainable.push_back(p);
  // Layer 0 makes v_first: an empty placeholder stands in its place, as a Function's inputs must be tensors.
  const auto v_in = block.layer_id == 0 ? torch::empty({0}, x.options()) : v_first;
  auto out = CheckpointedBlock7::apply(x, v_in, torch::TensorList(trainable), reinterpret_cast<int64_t>(&block));
  if (block.layer_id == 0) v_first = out[1];
  return out[0];
}

}  // namespace

RWKV7Impl::RWKV7Impl(const Rwkv7Config& c) : config(c.resolved()) {
  // emb, head and the LayerNorms keep PyTorch's defaults (emb N(0, 1), head U(+-1/sqrt(C))), as the
  // original; a pretrained file overwrites them.
  emb = register_module("emb", torch::nn::Embedding(config.vocab_size, config.n_embd));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layer; ++i) blocks->push_back(Block7(config, i));
  ln_out = register_module("ln_out", layer_norm(config.n_embd));
  head = register_module("head", linear(config.n_embd, config.vocab_size));
}

torch::Tensor RWKV7Impl::forward(const torch::Tensor& x) { return head(forward_hidden(x)); }

torch::Tensor RWKV7Impl::pad_left(const torch::Tensor& x) const {
  const int64_t p = (kRwkv7ChunkLen - x.size(1) % kRwkv7ChunkLen) % kRwkv7ChunkLen;
  if (p == 0) return x;
  VRWKV_CHECK(kRwkv7PadId < config.vocab_size, "RWKV-7 padding needs token ", kRwkv7PadId, " in a vocabulary of ",
              config.vocab_size);
  const auto pad = emb->weight[kRwkv7PadId].to(x.dtype()).expand({x.size(0), p, x.size(2)});
  return torch::cat({pad, x}, 1);
}

torch::Tensor RWKV7Impl::forward_hidden(const torch::Tensor& x_in, std::vector<LayerState>* states, bool fresh) {
  const auto n = static_cast<int64_t>(blocks->size());
  VRWKV_CHECK(!states || static_cast<int64_t>(states->size()) == n, "recurrent state has ",
              states ? states->size() : 0, " layers, the model ", n);
  const bool from_start = !states || fresh;
  auto x = from_start ? pad_left(x_in) : x_in;
  const int64_t p = x.size(1) - x_in.size(1);
  torch::Tensor v_first;
  for (int64_t i = 0; i < n; ++i) {
    auto& block = *blocks[i]->as<Block7Impl>();
    x = states ? block.forward(x, v_first, &(*states)[i], fresh) : run_block7(block, x, v_first, checkpoint_blocks);
  }
  x = ln_out(x);
  return p > 0 ? x.narrow(1, p, x_in.size(1)) : x;
}

}  // namespace vrwkv
