#include "model/wkv7_chunked.h"

#include <vector>

#include "base/error.h"
#include "model/wkv7.h"
#include "model/split_bf16_matmul.h"
#include "model/state_scan.h"

namespace vrwkv {
namespace {

constexpr int64_t L = kWkv7ChunkedLen;

// [B, T, H * N] -> [B, H, T / L, L, N] in `type`, the time axis padded with zeros to a multiple of L.
torch::Tensor as_chunks(const torch::Tensor& x, int64_t H, int64_t N, int64_t padded_T, torch::ScalarType type) {
  const int64_t B = x.size(0), T = x.size(1);
  auto t = x.to(type).view({B, T, H, N}).permute({0, 2, 1, 3});
  if (padded_T != T) t = torch::constant_pad_nd(t, {0, 0, 0, padded_T - T});
  return t.reshape({B, H, padded_T / L, L, N});
}

torch::Tensor transposed(const torch::Tensor& x) { return x.transpose(-1, -2); }

}  // namespace

std::pair<torch::Tensor, torch::Tensor> wkv7_chunked(const torch::Tensor& r, const torch::Tensor& w,
                                                     const torch::Tensor& k, const torch::Tensor& v,
                                                     const torch::Tensor& alpha, const torch::Tensor& beta,
                                                     int64_t head_size, const torch::Tensor& state0,
                                                     Wkv7StateProducts state_products) {
  const auto shape = wkv7_shape(r, w, k, v, alpha, beta, head_size);
  const int64_t B = shape.B, T = shape.T, H = shape.H, N = shape.N;
  for (const auto* x : {&w, &k, &v, &alpha, &beta})
    VRWKV_CHECK(x->device() == r.device(), "wkv7_chunked: inputs on ", r.device(), " and ", x->device());
  const auto type = r.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  VRWKV_CHECK(state_products != Wkv7StateProducts::kSplitBfloat16 || type == torch::kFloat32,
              "wkv7_chunked: split bfloat16 state products are for float32 or bfloat16 inputs, got ", r.scalar_type());
  const auto opts = r.options().dtype(type);
  torch::Tensor S = state0;
  if (S.defined()) {
    VRWKV_CHECK(S.sizes() == torch::IntArrayRef({B, H, N, N}), "wkv7_chunked: state must be [", B, ", ", H, ", ", N,
                ", ", N, "], got ", S.sizes());
    VRWKV_CHECK(S.device() == r.device(), "wkv7_chunked: state on ", S.device(), ", inputs on ", r.device());
    S = S.to(type);
  } else {
    S = torch::zeros({B, H, N, N}, opts);
  }
  if (T == 0) return {torch::empty_like(r), S.clone()};

  const int64_t padded_T = (T + L - 1) / L * L, n_chunks = padded_T / L;
  // Padded steps have r = k = v = alpha = beta = 0 and log decay 0: they leave the state as it is.
  const auto rc = as_chunks(r, H, N, padded_T, type), kc = as_chunks(k, H, N, padded_T, type);
  const auto vc = as_chunks(v, H, N, padded_T, type), ac = as_chunks(alpha, H, N, padded_T, type);
  const auto bc = as_chunks(beta, H, N, padded_T, type);
  const auto log_decay = as_chunks(-torch::exp(w.to(type)), H, N, padded_T, type);

  // g: the log decay summed over the chunk's steps up to t (inclusive); g - log_decay: up to t - 1.
  const auto g = torch::cumsum(log_decay, 3);
  const auto g_last = g.narrow(3, L - 1, 1);
  const auto q = rc * torch::exp(g);                   // r_t decayed from the chunk start to step t
  const auto a_hat = ac * torch::exp(g - log_decay);   // alpha_t decayed to step t - 1
  const auto k_in = kc * torch::exp(-g), b_in = bc * torch::exp(-g);  // undone to the chunk start
  const auto to_end = torch::exp(g_last - g);
  const auto k_end = kc * to_end, b_end = bc * to_end;  // decayed from step i to the chunk's end

  // For bfloat16 inputs the products that make y take bfloat16 operands (tensor cores on a GPU, float32
  // accumulation): nothing but the bfloat16 output depends on them, so each adds rounding of the order
  // of the output's own once. What moves the state from chunk to chunk (the solve's inputs, transition,
  // added) keeps float32's accuracy, as the per-step kernel's state does, so no rounding compounds:
  // plain float32 products or split bfloat16 ones (tensor cores too, to about 2^-16).
  const bool low = r.scalar_type() == torch::kBFloat16;
  auto product = [&](const torch::Tensor& a, const torch::Tensor& b) {
    if (!low) return torch::matmul(a, b);
    return torch::matmul(a.to(torch::kBFloat16), b.to(torch::kBFloat16)).to(type);
  };
  const bool split = state_products == Wkv7StateProducts::kSplitBfloat16 ||
                     (state_products == Wkv7StateProducts::kAuto && low && r.is_cuda());
  auto state_product = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return split ? split_bf16_matmul(a, b) : torch::matmul(a, b);
  };

  // Pairwise terms (row t, column i): strictly below the diagonal for u_t (old state), on and below for y_t.
  // Each side is one product against [b~; k~], [L, 2L] per chunk: [a_hat b~^T | a_hat k~^T] and
  // [q b~^T | q k~^T], the second masked to on and below the diagonal in both halves at once.
  const auto bk_in = transposed(torch::cat({b_in, k_in}, 3));
  const auto a_pairs = state_product(a_hat, bk_in);
  const auto ab = torch::tril(a_pairs.narrow(-1, 0, L), -1), ak = torch::tril(a_pairs.narrow(-1, L, L), -1);
  const auto q_pairs = product(q, bk_in) * torch::tril(torch::ones({L, L}, opts)).repeat({1, 2});

  // u (rows u_t^T) = a_hat S0^T + ab u + ak v, so (I - ab) u = a_hat S0^T + ak v. With the solve's
  // unit diagonal, passing -ab gives I - ab. u = u0 + wy S0^T splits what depends on S0 from what does not.
  const auto rhs = torch::cat({a_hat, state_product(ak, vc)}, -1);
  const auto solved =
      torch::linalg_solve_triangular(-ab, rhs, /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  const auto wy = solved.narrow(-1, 0, N), u0 = solved.narrow(-1, N, N);

  // Chunk to chunk: S_end = S0 (diag(e^{g_last}) + wy^T b_end) + (u0^T b_end + v^T k_end), the last
  // bracket as one product over 2L.
  const auto transition =
      torch::diag_embed(torch::exp(g_last.squeeze(3))) + state_product(transposed(wy), b_end);
  const auto added = state_product(transposed(torch::cat({u0, vc}, 3)), torch::cat({b_end, k_end}, 3));
  // The only part that runs chunk after chunk (model/state_scan.h), over [n_chunks, B * H, N, N].
  auto chunk_major = [&](const torch::Tensor& x) {
    return x.permute({2, 0, 1, 3, 4}).reshape({n_chunks, B * H, N, N});
  };
  auto [starts, last] = chunk_state_scan(chunk_major(transition), chunk_major(added), S.reshape({B * H, N, N}));
  S = last.view({B, H, N, N});
  // [B, H, n_chunks, N, N]: each chunk's starting state.
  const auto S0 = starts.view({n_chunks, B, H, N, N}).permute({1, 2, 0, 3, 4});

  const auto S0_t = low ? transposed(S0).to(torch::kBFloat16) : transposed(S0);
  const auto u = u0 + product(wy, S0_t);
  const auto y = product(q, S0_t) + product(q_pairs, torch::cat({u, vc}, 3));  // + q b~^T u + q k~^T v
  auto out = y.reshape({B, H, padded_T, N}).narrow(2, 0, T).permute({0, 2, 1, 3}).reshape({B, T, H * N});
  return {out.to(r.scalar_type()), S};
}

}  // namespace vrwkv
