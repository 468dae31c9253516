#include "model/rwkv6.h"

#include <cmath>

#include "base/error.h"
#include "model/layers.h"
#include "model/token_shift.h"
#include "model/wkv6.h"
#include "model/wkv6_state.h"

namespace vrwkv {
using layers::as_mix;
using layers::layer_norm;
using layers::linear;
using layers::ramp;

TimeMixImpl::TimeMixImpl(const ModelConfig& c, int64_t layer_id)
    : n_head(c.n_head()), head_size(c.head_size) {
  const int64_t C = c.n_embd, A = c.dim_att;
  const double L = double(c.n_layer);
  const double ratio0 = c.n_layer > 1 ? layer_id / (L - 1) : 0.0;  // 0 at the first layer, 1 at the last
  const double ratio1 = 1.0 - layer_id / L;                        // 1 at the first layer, near 0 at the last
  const auto d = ramp(C);
  time_maa_x = register_parameter("time_maa_x", as_mix(1.0 - d.pow(ratio1)));
  time_maa_w = register_parameter("time_maa_w", as_mix(1.0 - d.pow(ratio1)));
  time_maa_k = register_parameter("time_maa_k", as_mix(1.0 - d.pow(ratio1)));
  time_maa_v = register_parameter("time_maa_v", as_mix(1.0 - (d.pow(ratio1) + 0.3 * ratio0)));
  time_maa_r = register_parameter("time_maa_r", as_mix(1.0 - d.pow(0.5 * ratio1)));
  time_maa_g = register_parameter("time_maa_g", as_mix(1.0 - d.pow(0.5 * ratio1)));
  time_maa_w1 = register_parameter("time_maa_w1", torch::zeros({C, 5 * c.d_mix}));
  time_maa_w2 = register_parameter("time_maa_w2", torch::empty({5, c.d_mix, C}).uniform_(-0.01, 0.01));
  const auto n = torch::arange(A, torch::kFloat64) / double(std::max<int64_t>(A - 1, 1));
  time_decay = register_parameter("time_decay", as_mix(-6.0 + 5.0 * n.pow(0.7 + 1.3 * ratio0)));
  time_decay_w1 = register_parameter("time_decay_w1", torch::zeros({C, c.d_decay}));
  time_decay_w2 = register_parameter("time_decay_w2", torch::empty({c.d_decay, A}).uniform_(-0.01, 0.01));
  const auto zigzag = (torch::arange(A, torch::kInt64) + 1).remainder(3).to(torch::kFloat64) - 1.0;
  time_faaaa = register_parameter(
      "time_faaaa", (ratio0 * (1.0 - n) + zigzag * 0.1).to(torch::kFloat32).view({n_head, head_size}));
  receptance = register_module("receptance", linear(C, A));
  key = register_module("key", linear(C, A));
  value = register_module("value", linear(C, A));
  output = register_module("output", linear(A, C));
  gate = register_module("gate", linear(C, A));
  ln_x = register_module("ln_x", layers::head_group_norm(n_head, A));
}

torch::Tensor TimeMixImpl::forward(const torch::Tensor& x, LayerState* state, bool fresh) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const auto xx = shifted(x, state, &LayerState::att_shift, fresh) - x;
  // ddlerp: five data-dependent interpolation weights from one low-rank projection.
  auto xxx = torch::tanh(torch::matmul(x + xx * time_maa_x, time_maa_w1));  // [B, T, 5 * D]
  xxx = xxx.view({B * T, 5, -1}).transpose(0, 1);                          // [5, B*T, D]
  const auto m = torch::bmm(xxx, time_maa_w2).view({5, B, T, C});          // order: w, k, v, r, g
  const auto xw = x + xx * (time_maa_w + m[0]);
  const auto xk = x + xx * (time_maa_k + m[1]);
  const auto xv = x + xx * (time_maa_v + m[2]);
  const auto xr = x + xx * (time_maa_r + m[3]);
  const auto xg = x + xx * (time_maa_g + m[4]);
  const auto r = receptance(xr), k = key(xk), v = value(xv);
  const auto g = torch::silu(gate(xg));
  const auto w = time_decay + torch::matmul(torch::tanh(torch::matmul(xw, time_decay_w1)), time_decay_w2);
  auto y = state ? wkv6_continue(r, k, v, w, time_faaaa, state->wkv, fresh)
                 : wkv6(r, k, v, w, time_faaaa);  // [B, T, A]
  const int64_t A = y.size(2);
  y = ln_x(y.reshape({B * T, A})).view({B, T, A});
  if (state) state->att_shift = last_position(x);
  return output(y * g);
}

ChannelMixImpl::ChannelMixImpl(const ModelConfig& c, int64_t layer_id) {
  const int64_t C = c.n_embd, F = c.dim_ffn;
  const double ratio1 = 1.0 - layer_id / double(c.n_layer);
  const auto d = ramp(C);
  time_maa_k = register_parameter("time_maa_k", as_mix(1.0 - d.pow(ratio1)));
  time_maa_r = register_parameter("time_maa_r", as_mix(1.0 - d.pow(ratio1)));
  key = register_module("key", linear(C, F));
  receptance = register_module("receptance", linear(C, C));
  value = register_module("value", linear(F, C));
}

torch::Tensor ChannelMixImpl::forward(const torch::Tensor& x, LayerState* state, bool fresh) {
  const auto xx = shifted(x, state, &LayerState::ffn_shift, fresh) - x;
  const auto k = torch::relu(key(x + xx * time_maa_k)).square();
  auto out = torch::sigmoid(receptance(x + xx * time_maa_r)) * value(k);
  if (state) state->ffn_shift = last_position(x);
  return out;
}

BlockImpl::BlockImpl(const ModelConfig& c, int64_t layer_id) : layer_id(layer_id) {
  if (layer_id == 0) ln0 = register_module("ln0", layer_norm(c.n_embd));
  ln1 = register_module("ln1", layer_norm(c.n_embd));
  ln2 = register_module("ln2", layer_norm(c.n_embd));
  att = register_module("att", TimeMix(c, layer_id));
  ffn = register_module("ffn", ChannelMix(c, layer_id));
}

torch::Tensor BlockImpl::forward(torch::Tensor x, LayerState* state, bool fresh) {
  if (ln0) x = ln0(x);
  x = x + att->forward(ln1(x), state, fresh);
  return x + ffn->forward(ln2(x), state, fresh);
}

namespace {

// Runs a block without recording a graph, keeps its input, and in backward runs it again with
// autograd to get the gradients of the input and of the block's trainable parameters. The block
// is deterministic, so the gradients are those of running without checkpointing.
class CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               torch::TensorList params, int64_t block_address) {
    ctx->save_for_backward({x});
    ctx->saved_data["block"] = block_address;
    ctx->saved_data["n_params"] = static_cast<int64_t>(params.size());
    torch::NoGradGuard no_grad;
    return reinterpret_cast<BlockImpl*>(block_address)->forward(x);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto* block = reinterpret_cast<BlockImpl*>(ctx->saved_data["block"].toInt());
    const auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    std::vector<torch::Tensor> inputs = {x};
    for (const auto& p : block->parameters())
      if (p.requires_grad()) inputs.push_back(p);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = block->forward(x);
    }
    const auto g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
    torch::autograd::tensor_list out = {g[0]};
    out.insert(out.end(), g.begin() + 1, g.end());
    out.emplace_back();  // block_address
    return out;
  }
};

torch::Tensor run_block(BlockImpl& block, const torch::Tensor& x, bool checkpoint) {
  if (!checkpoint || !torch::GradMode::is_enabled()) return block.forward(x);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : block.parameters())
    if (p.requires_grad()) trainable.push_back(p);
  return CheckpointedBlock::apply(x, torch::TensorList(trainable), reinterpret_cast<int64_t>(&block));
}

}  // namespace

RWKVImpl::RWKVImpl(const ModelConfig& c) : config(c.resolved()) {
  emb = register_module("emb", torch::nn::Embedding(config.vocab_size, config.n_embd));
  {
    torch::NoGradGuard no_grad;
    emb->weight.uniform_(-1e-4, 1e-4);  // RWKV's small embedding init (its ln0 rescales)
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.n_layer; ++i) blocks->push_back(Block(config, i));
  ln_out = register_module("ln_out", layer_norm(config.n_embd));
  head = register_module("head", linear(config.n_embd, config.vocab_size));
}

torch::Tensor RWKVImpl::forward(torch::Tensor x, const BlockOrder& order) {
  return head(forward_hidden(std::move(x), order));
}

torch::Tensor RWKVImpl::forward_hidden(torch::Tensor x, const BlockOrder& order) {
  return ln_out(forward_blocks(std::move(x), order));
}

torch::Tensor RWKVImpl::forward_blocks(torch::Tensor x, const BlockOrder& order, std::vector<LayerState>* states,
                                       bool fresh) {
  const auto n = static_cast<int64_t>(blocks->size());
  VRWKV_CHECK(!states || static_cast<int64_t>(states->size()) == n, "recurrent state has ",
              states ? states->size() : 0, " layers, the model ", n);
  for (int64_t i = 0; i < n; ++i) {
    auto block = blocks[i]->as<BlockImpl>();
    auto run = [&](const torch::Tensor& in) {
      return states ? block->forward(in, &(*states)[i], fresh) : run_block(*block, in, checkpoint_blocks);
    };
    const torch::Tensor gather = order ? order(i) : torch::Tensor();
    if (!gather.defined()) {
      x = run(x);
      continue;
    }
    // Read the sequence in the block's order, then put every position back where it was. With a
    // state, the block's state is that after the last position it read.
    const auto inverse = torch::empty_like(gather).scatter_(0, gather, torch::arange(gather.size(0), gather.options()));
    x = run(x.index_select(1, gather)).index_select(1, inverse);
  }
  return x;
}

}  // namespace vrwkv
