#include "infer/recurrent.h"

#include <algorithm>

#include "base/error.h"
#include "model/wkv6.h"

namespace vrwkv {
namespace {

torch::ScalarType state_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// shift(x) for a chunk of positions that continues after `prev` [B, C] (the input at the position
// before the chunk). A fresh state uses token_shift itself, so the prefill is the forward's arithmetic.
torch::Tensor shifted(const torch::Tensor& x, const torch::Tensor& prev, bool fresh) {
  if (fresh) return token_shift(x);
  const auto p = prev.to(x.dtype()).unsqueeze(1);
  if (x.size(1) == 1) return p;
  return torch::cat({p, x.narrow(1, 0, x.size(1) - 1)}, 1);
}

// The input at the last position, copied so the state does not keep the whole chunk alive.
torch::Tensor last_position(const torch::Tensor& x) { return x.select(1, x.size(1) - 1).clone(); }

// The WKV of a chunk starting from `wkv` (replaced by the state after the chunk).
torch::Tensor wkv_chunk(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                        const torch::Tensor& u, torch::Tensor& wkv, bool fresh, int64_t head_size) {
  if (r.device().is_cpu()) {
    // The kernel the forward uses; from zeros its y is bitwise the forward's.
    auto [y, state] = wkv6_forward_with_state(r, k, v, w, u, fresh ? torch::Tensor() : wkv);
    wkv = state;
    return y;
  }
  if (r.size(1) == 1) {
    auto y = wkv6_step_ops(r.squeeze(1), k.squeeze(1), v.squeeze(1), w.squeeze(1), u, wkv);
    return y.unsqueeze(1);
  }
  if (fresh) {
    // The device kernel gives the forward's y but no state: the state in closed form.
    auto y = wkv6(r, k, v, w, u);
    wkv = wkv6_final_state_ops(k, v, w, head_size);
    return y;
  }
  // Several positions from a non-zero state off the CPU: the device kernel plus the state's share.
  return wkv6_from_state_ops(r, k, v, w, u, wkv);
}

// TimeMixImpl::forward op for op, reading shift(x) and the WKV state from `st` and updating them.
torch::Tensor time_mix(TimeMixImpl& tm, const torch::Tensor& x, LayerState& st, bool fresh) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  const auto xx = shifted(x, st.att_shift, fresh) - x;
  auto xxx = torch::tanh(torch::matmul(x + xx * tm.time_maa_x, tm.time_maa_w1));
  xxx = xxx.view({B * T, 5, -1}).transpose(0, 1);
  const auto m = torch::bmm(xxx, tm.time_maa_w2).view({5, B, T, C});  // order: w, k, v, r, g
  const auto xw = x + xx * (tm.time_maa_w + m[0]);
  const auto xk = x + xx * (tm.time_maa_k + m[1]);
  const auto xv = x + xx * (tm.time_maa_v + m[2]);
  const auto xr = x + xx * (tm.time_maa_r + m[3]);
  const auto xg = x + xx * (tm.time_maa_g + m[4]);
  const auto r = tm.receptance(xr), k = tm.key(xk), v = tm.value(xv);
  const auto g = torch::silu(tm.gate(xg));
  const auto w = tm.time_decay + torch::matmul(torch::tanh(torch::matmul(xw, tm.time_decay_w1)), tm.time_decay_w2);
  auto y = wkv_chunk(r, k, v, w, tm.time_faaaa, st.wkv, fresh, tm.head_size);
  const int64_t A = y.size(2);
  y = tm.ln_x(y.reshape({B * T, A})).view({B, T, A});
  st.att_shift = last_position(x);
  return tm.output(y * g);
}

// ChannelMixImpl::forward with the shift from `st`.
torch::Tensor channel_mix(ChannelMixImpl& cm, const torch::Tensor& x, LayerState& st, bool fresh) {
  const auto xx = shifted(x, st.ffn_shift, fresh) - x;
  const auto k = torch::relu(cm.key(x + xx * cm.time_maa_k)).square();
  auto out = torch::sigmoid(cm.receptance(x + xx * cm.time_maa_r)) * cm.value(k);
  st.ffn_shift = last_position(x);
  return out;
}

// BlockImpl::forward with state.
torch::Tensor block_with_state(BlockImpl& block, torch::Tensor x, LayerState& st, bool fresh) {
  if (block.ln0) x = block.ln0(x);
  x = x + time_mix(*block.att, block.ln1(x), st, fresh);
  return x + channel_mix(*block.ffn, block.ln2(x), st, fresh);
}

void check_state(VisualRWKV& model, const RecurrentState& state, int64_t batch) {
  VRWKV_CHECK(static_cast<int64_t>(state.layers.size()) == model->config.n_layer, "recurrent state has ",
              state.layers.size(), " layers, the model ", model->config.n_layer);
  if (state.positions > 0)
    VRWKV_CHECK(state.layers[0].att_shift.size(0) == batch, "recurrent state holds ",
                state.layers[0].att_shift.size(0), " sequences, the step ", batch);
}

}  // namespace

RecurrentState RecurrentState::zeros(VisualRWKV& model, int64_t batch) {
  const auto& c = model->config;
  const auto options = model->rwkv->emb->weight.options().requires_grad(false);
  const auto wkv_options = options.dtype(state_type(model->rwkv->emb->weight));
  RecurrentState s;
  for (int64_t i = 0; i < c.n_layer; ++i)
    s.layers.push_back({torch::zeros({batch, c.n_embd}, options),
                        torch::zeros({batch, c.n_head(), c.head_size, c.head_size}, wkv_options),
                        torch::zeros({batch, c.n_embd}, options)});
  return s;
}

RecurrentState RecurrentState::clone() const {
  RecurrentState s;
  s.positions = positions;
  for (const auto& l : layers) s.layers.push_back({l.att_shift.clone(), l.wkv.clone(), l.ffn_shift.clone()});
  return s;
}

RecurrentState prefill(VisualRWKV& model, const torch::Tensor& embeds, ScanMode mode, int64_t img_start,
                       int64_t img_end, torch::Tensor* last_logits) {
  VRWKV_CHECK(embeds.dim() == 3, "prefill: embeds must be [B, T, C], got ", embeds.sizes());
  RecurrentState state = RecurrentState::zeros(model, embeds.size(0));
  read_chunk(model, state, embeds, mode, img_start, img_end, last_logits);
  return state;
}

void read_chunk(VisualRWKV& model, RecurrentState& state, const torch::Tensor& embeds, ScanMode mode,
                int64_t img_start, int64_t img_end, torch::Tensor* last_logits) {
  torch::NoGradGuard no_grad;
  VRWKV_CHECK(embeds.dim() == 3 && embeds.size(1) > 0 && embeds.size(2) == model->config.n_embd,
              "prefill: embeds must be [B, T > 0, ", model->config.n_embd, "], got ", embeds.sizes());
  const int64_t B = embeds.size(0), T = embeds.size(1);
  check_state(model, state, B);
  const bool fresh = state.positions == 0;
  const bool span = img_end > img_start;
  const auto device = embeds.device();
  if (span) scan_order(mode, 0, T, img_start, img_end);  // checks the span once, as forward_embeds does
  auto& rwkv = *model->rwkv;
  torch::Tensor x = embeds;
  for (int64_t i = 0; i < static_cast<int64_t>(rwkv.blocks->size()); ++i) {
    auto& block = *rwkv.blocks[i]->as<BlockImpl>();
    auto& st = state.layers[i];
    const torch::Tensor gather =
        (mode == ScanMode::kUni || !span) ? torch::Tensor() : scan_order(mode, i, T, img_start, img_end);
    if (!gather.defined()) {
      x = block_with_state(block, x, st, fresh);
      continue;
    }
    // The block reads the span in its order; its state is the state after the last position it read.
    const auto g = gather.to(device);
    const auto inverse = torch::empty_like(g).scatter_(0, g, torch::arange(g.size(0), g.options()));
    x = block_with_state(block, x.index_select(1, g), st, fresh).index_select(1, inverse);
  }
  state.positions += T;
  if (last_logits) *last_logits = rwkv.head(rwkv.ln_out(x.select(1, T - 1)));
}

RecurrentState select_rows(const RecurrentState& state, const torch::Tensor& rows) {
  RecurrentState s;
  s.positions = state.positions;
  for (const auto& l : state.layers) {
    const auto r = rows.to(l.wkv.device(), torch::kInt64);
    s.layers.push_back({l.att_shift.index_select(0, r), l.wkv.index_select(0, r), l.ffn_shift.index_select(0, r)});
  }
  return s;
}

void put_rows(RecurrentState& dst, const torch::Tensor& rows, const RecurrentState& src) {
  VRWKV_CHECK(dst.layers.size() == src.layers.size(), "put_rows: states of ", dst.layers.size(), " and ",
              src.layers.size(), " layers");
  for (size_t i = 0; i < dst.layers.size(); ++i) {
    auto& d = dst.layers[i];
    const auto& s = src.layers[i];
    const auto r = rows.to(d.wkv.device(), torch::kInt64);
    d.att_shift.index_copy_(0, r, s.att_shift);
    d.wkv.index_copy_(0, r, s.wkv);
    d.ffn_shift.index_copy_(0, r, s.ffn_shift);
  }
  dst.positions = std::max(dst.positions, src.positions);
}

RecurrentState concat_rows(const std::vector<RecurrentState>& states) {
  VRWKV_CHECK(!states.empty(), "concat_rows: no states");
  RecurrentState s;
  s.positions = states[0].positions;
  for (size_t i = 0; i < states[0].layers.size(); ++i) {
    std::vector<torch::Tensor> a, w, f;
    for (const auto& st : states) {
      VRWKV_CHECK(st.layers.size() == states[0].layers.size(), "concat_rows: states of different depth");
      a.push_back(st.layers[i].att_shift);
      w.push_back(st.layers[i].wkv);
      f.push_back(st.layers[i].ffn_shift);
    }
    s.layers.push_back({torch::cat(a), torch::cat(w), torch::cat(f)});
  }
  for (const auto& st : states) s.positions = std::max(s.positions, st.positions);
  return s;
}

torch::Tensor step_embeds(VisualRWKV& model, RecurrentState& state, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  VRWKV_CHECK(x.dim() == 2 && x.size(1) == model->config.n_embd, "step: input must be [B, ",
              model->config.n_embd, "], got ", x.sizes());
  check_state(model, state, x.size(0));
  auto& rwkv = *model->rwkv;
  const bool fresh = state.positions == 0;
  auto h = x.unsqueeze(1);
  for (int64_t i = 0; i < static_cast<int64_t>(rwkv.blocks->size()); ++i)
    h = block_with_state(*rwkv.blocks[i]->as<BlockImpl>(), h, state.layers[i], fresh);
  state.positions += 1;
  return rwkv.head(rwkv.ln_out(h.squeeze(1)));
}

torch::Tensor step(VisualRWKV& model, RecurrentState& state, const torch::Tensor& token_ids) {
  torch::NoGradGuard no_grad;
  VRWKV_CHECK(token_ids.dim() == 1, "step: token_ids must be [B], got ", token_ids.sizes());
  auto& emb = model->rwkv->emb;
  return step_embeds(model, state, emb(token_ids.to(emb->weight.device(), torch::kInt64)));
}

torch::Tensor wkv6_step_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state) {
  VRWKV_CHECK(r.dim() == 2 && u.dim() == 2 && r.size(1) == u.numel(), "wkv6 step: r ", r.sizes(), " and u ",
              u.sizes(), " do not match");
  const int64_t B = r.size(0), H = u.size(0), N = u.size(1);
  const auto type = state_type(r);
  auto as = [&](const torch::Tensor& t) { return t.to(type); };
  const auto kt = as(k).view({B, H, N, 1}), vt = as(v).view({B, H, 1, N});
  const auto a = kt * vt;  // k_t[i] v_t[j]
  const auto s = state.to(type);
  const auto y = (as(r).view({B, H, N, 1}) * (as(u).view({1, H, N, 1}) * a + s)).sum(2);  // over i
  state = s * torch::exp(-torch::exp(as(w))).view({B, H, N, 1}) + a;
  return y.reshape({B, H * N}).to(r.scalar_type());
}

torch::Tensor wkv6_final_state_ops(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                                   int64_t head_size) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  VRWKV_CHECK(k.dim() == 3 && v.sizes() == k.sizes() && w.sizes() == k.sizes() && k.size(2) % head_size == 0,
              "wkv6 state: k, v, w must be one [B, T, H * ", head_size, "] shape, got ", k.sizes());
  const int64_t B = k.size(0), T = k.size(1), H = k.size(2) / head_size, N = head_size;
  const auto type = state_type(k);
  const auto log_decay = -torch::exp(w.to(type));  // [B, T, C]
  // sum_{s >= t} log_decay[s], then shifted one step: sum_{s > t}, exactly 0 for the last position.
  const auto from_t = log_decay.flip(1).cumsum(1).flip(1);
  const auto after_t = torch::cat({from_t.index({Slice(), Slice(1, None)}), torch::zeros_like(from_t.narrow(1, 0, 1))}, 1);
  const auto kw = (k.to(type) * torch::exp(after_t)).view({B, T, H, N});
  const auto vv = v.to(type).view({B, T, H, N});
  return torch::einsum("bthi,bthj->bhij", {kw, vv});
}

}  // namespace vrwkv

namespace vrwkv {

torch::Tensor wkv6_from_state_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state) {
  const int64_t B = r.size(0), T = r.size(1), H = u.size(0), N = u.size(1);
  VRWKV_CHECK(state.dim() == 4 && state.size(0) == B && state.size(1) == H && state.size(2) == N && state.size(3) == N,
              "wkv6 from state: state must be [", B, ", ", H, ", ", N, ", ", N, "], got ", state.sizes());
  const auto type = state_type(r);
  const auto s0 = state.to(type);
  const auto log_decay = -torch::exp(w.to(type));  // [B, T, C]
  // The decay from the chunk's start up to (not including) t, and over the whole chunk.
  const auto through = log_decay.cumsum(1);
  const auto before = through - log_decay;
  const auto total = through.select(1, T - 1).view({B, H, N, 1});
  const auto r_decayed = (r.to(type) * torch::exp(before)).view({B, T, H, N});
  const auto from_state = torch::einsum("bthi,bhij->bthj", {r_decayed, s0}).reshape({B, T, H * N});
  const auto y = wkv6(r, k, v, w, u).to(type) + from_state;
  state = wkv6_final_state_ops(k, v, w, N) + torch::exp(total) * s0;
  return y.to(r.scalar_type());
}

}  // namespace vrwkv
