#include "infer/recurrent.h"

#include <algorithm>

#include "base/error.h"
#include "model/wkv6_state.h"

namespace vrwkv {
namespace {

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
  const auto wkv_options = options.dtype(wkv_state_type(model->rwkv->emb->weight));
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
  const auto order = scan_block_order(mode, T, img_start, img_end, embeds.device());
  auto& rwkv = *model->rwkv;
  // Each block reads the span in its order; its state is the state after the last position it read.
  const auto x = rwkv.forward_blocks(embeds, order, &state.layers, fresh);
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
  const auto h = rwkv.forward_blocks(x.unsqueeze(1), nullptr, &state.layers, state.positions == 0);
  state.positions += 1;
  return rwkv.head(rwkv.ln_out(h.squeeze(1)));
}

torch::Tensor step(VisualRWKV& model, RecurrentState& state, const torch::Tensor& token_ids) {
  torch::NoGradGuard no_grad;
  VRWKV_CHECK(token_ids.dim() == 1, "step: token_ids must be [B], got ", token_ids.sizes());
  auto& emb = model->rwkv->emb;
  return step_embeds(model, state, emb(token_ids.to(emb->weight.device(), torch::kInt64)));
}

}  // namespace vrwkv
