#include "model/wkv6_state.h"

#include "base/error.h"
#include "model/wkv6.h"

namespace vrwkv {

torch::ScalarType wkv_state_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

torch::Tensor wkv6_continue(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state, bool fresh) {
  if (r.device().is_cpu()) {
    // The kernel the forward uses; from zeros its y is bitwise the forward's.
    auto [y, after] = wkv6_forward_with_state(r, k, v, w, u, fresh ? torch::Tensor() : state);
    state = after;
    return y;
  }
  if (r.size(1) == 1) return wkv6_step_ops(r.squeeze(1), k.squeeze(1), v.squeeze(1), w.squeeze(1), u, state).unsqueeze(1);
  if (fresh) {
    // The device kernel gives the forward's y but no state: the state in closed form.
    auto y = wkv6(r, k, v, w, u);
    state = wkv6_final_state_ops(k, v, w, u.size(1));
    return y;
  }
  // Several positions from a non-zero state off the CPU: the device kernel plus the state's share.
  return wkv6_from_state_ops(r, k, v, w, u, state);
}

torch::Tensor wkv6_step_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state) {
  VRWKV_CHECK(r.dim() == 2 && u.dim() == 2 && r.size(1) == u.numel(), "wkv6 step: r ", r.sizes(), " and u ",
              u.sizes(), " do not match");
  const int64_t B = r.size(0), H = u.size(0), N = u.size(1);
  const auto type = wkv_state_type(r);
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
  const auto type = wkv_state_type(k);
  const auto log_decay = -torch::exp(w.to(type));  // [B, T, C]
  // sum_{s >= t} log_decay[s], then shifted one step: sum_{s > t}, exactly 0 for the last position.
  const auto from_t = log_decay.flip(1).cumsum(1).flip(1);
  const auto after_t = torch::cat({from_t.index({Slice(), Slice(1, None)}), torch::zeros_like(from_t.narrow(1, 0, 1))}, 1);
  const auto kw = (k.to(type) * torch::exp(after_t)).view({B, T, H, N});
  const auto vv = v.to(type).view({B, T, H, N});
  return torch::einsum("bthi,bthj->bhij", {kw, vv});
}

torch::Tensor wkv6_from_state_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state) {
  const int64_t B = r.size(0), T = r.size(1), H = u.size(0), N = u.size(1);
  VRWKV_CHECK(state.dim() == 4 && state.size(0) == B && state.size(1) == H && state.size(2) == N && state.size(3) == N,
              "wkv6 from state: state must be [", B, ", ", H, ", ", N, ", ", N, "], got ", state.sizes());
  const auto type = wkv_state_type(r);
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
