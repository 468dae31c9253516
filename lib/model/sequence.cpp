#include "model/sequence.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"

namespace vrwkv {
namespace {

// Where one position of the assembled sequence takes its embedding from.
struct Source {
  enum Kind { kZero, kToken, kImage } kind = kZero;
  int64_t index = 0;  // token id, or image embedding number k
  int64_t label = kIgnoreLabel;
};

}  // namespace

SequenceLayout plan_sequence(const torch::Tensor& input_ids_in, const torch::Tensor& labels_in, int64_t K,
                             int64_t ctx_len) {
  VRWKV_CHECK(input_ids_in.dim() == 2 && labels_in.sizes() == input_ids_in.sizes(),
              "sequence: input_ids ", input_ids_in.sizes(), " and labels ", labels_in.sizes(),
              " must both be [B, T]");
  const auto ids = input_ids_in.to(torch::kCPU, torch::kInt64).contiguous();
  const auto lab = labels_in.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t B = ids.size(0), T = ids.size(1);
  const int64_t* id = ids.data_ptr<int64_t>();
  const int64_t* lb = lab.data_ptr<int64_t>();

  // 1. m: the largest placeholder index over the batch.
  std::vector<int64_t> placeholder(B, -1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      if (id[b * T + t] == kImagePlaceholder) {
        VRWKV_CHECK(placeholder[b] < 0, "sequence: sample ", b, " has more than one image placeholder (at ",
                    placeholder[b], " and ", t, ")");
        placeholder[b] = t;
      }
  const int64_t m = std::max<int64_t>(0, *std::max_element(placeholder.begin(), placeholder.end()));
  if (ctx_len > 0)
    VRWKV_CHECK(m + K <= ctx_len, "sequence: the image span [", m, ", ", m + K, ") does not fit in ctx_len ",
                ctx_len, " (ctx_len must hold the text before the image and all ", K, " image embeddings)");

  // 2. Each sample: id-0 padding and the text before the image right-aligned in m positions, the
  //    image (or K zero vectors), then the text after it.
  std::vector<std::vector<Source>> rows(B);
  for (int64_t b = 0; b < B; ++b) {
    auto& row = rows[b];
    const int64_t p = placeholder[b];
    const int64_t before = std::max<int64_t>(p, 0);
    for (int64_t i = 0; i < m - before; ++i) row.push_back({Source::kToken, 0, kIgnoreLabel});
    for (int64_t t = 0; t < before; ++t) row.push_back({Source::kToken, id[b * T + t], lb[b * T + t]});
    for (int64_t k = 0; k < K; ++k) row.push_back({p >= 0 ? Source::kImage : Source::kZero, k, kIgnoreLabel});
    for (int64_t t = p + 1; t < T; ++t) row.push_back({Source::kToken, id[b * T + t], lb[b * T + t]});
    // The collate's padding after the sample's end (id 0, label -100; no rendered text holds id 0)
    // is not text: the truncation rule acts on the sample's own row, so a sample truncates the
    // same whatever longer samples share its micro batch.
    int64_t own_end = T;
    while (own_end > p + 1 && id[b * T + own_end - 1] == 0 && lb[b * T + own_end - 1] == kIgnoreLabel) --own_end;
    const int64_t own = static_cast<int64_t>(row.size()) - (T - own_end);
    // 3. Truncate: the first ctx_len positions if they hold a label, else the last ctx_len.
    if (ctx_len > 0 && static_cast<int64_t>(row.size()) > ctx_len) {
      const bool head_has_label = std::any_of(row.begin(), row.begin() + ctx_len,
                                              [](const Source& s) { return s.label != kIgnoreLabel; });
      if (head_has_label) {
        row.resize(ctx_len);
      } else {
        row.resize(own);
        if (own > ctx_len) row.erase(row.begin(), row.end() - ctx_len);
      }
    }
  }

  // 4. Pad to the longest sample with zero vectors.
  int64_t L = 0;
  for (const auto& row : rows) L = std::max<int64_t>(L, row.size());
  SequenceLayout out;
  out.token_ids = torch::zeros({B, L}, torch::kInt64);
  out.is_token = torch::zeros({B, L}, torch::kBool);
  out.image_rows = torch::full({B, L}, B * K, torch::kInt64);  // the zero row
  out.labels = torch::full({B, L}, kIgnoreLabel, torch::kInt64);
  out.has_image = torch::zeros({B}, torch::kBool);
  auto tok = out.token_ids.accessor<int64_t, 2>();
  auto is_tok = out.is_token.accessor<bool, 2>();
  auto img = out.image_rows.accessor<int64_t, 2>();
  auto lab_out = out.labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    out.has_image[b] = placeholder[b] >= 0;
    for (int64_t t = 0; t < static_cast<int64_t>(rows[b].size()); ++t) {
      const Source& s = rows[b][t];
      lab_out[b][t] = s.label;
      if (s.kind == Source::kToken) {
        tok[b][t] = s.index;
        is_tok[b][t] = true;
      } else if (s.kind == Source::kImage) {
        img[b][t] = b * K + s.index;
      }
    }
  }
  out.img_start = m;
  out.img_end = m + K - 1;
  out.image_tokens = K;
  return out;
}

ScanMode scan_mode_from_string(const std::string& name) {
  if (name == "uni") return ScanMode::kUni;
  if (name == "bi") return ScanMode::kBi;
  if (name == "multi") return ScanMode::kMulti;
  throw Error(cat("unknown scan mode '", name, "' (expected uni, bi or multi)"));
}

std::string to_string(ScanMode mode) {
  switch (mode) {
    case ScanMode::kUni: return "uni";
    case ScanMode::kBi: return "bi";
    case ScanMode::kMulti: return "multi";
  }
  return "?";
}

torch::Tensor scan_order(ScanMode mode, int64_t layer_id, int64_t seq_len, int64_t img_start, int64_t img_end) {
  const int64_t n = img_end - img_start;
  const bool reverse = (mode == ScanMode::kBi || mode == ScanMode::kMulti) && layer_id % 2 == 1;
  const bool transpose = mode == ScanMode::kMulti && layer_id % 4 >= 2;
  if (mode == ScanMode::kMulti) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(std::max<int64_t>(n, 0)))));
    VRWKV_CHECK(side * side == n, "scan mode multi needs a square image span, but [", img_start, ", ", img_end,
                ") holds ", n, " positions");
  }
  if ((!reverse && !transpose) || n <= 1) return {};
  VRWKV_CHECK(img_start >= 0 && img_end <= seq_len, "scan: image span [", img_start, ", ", img_end,
              ") is outside the sequence of length ", seq_len);
  // span[p] is the original span position that position p of the block's input holds.
  std::vector<int64_t> span(n);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
  for (int64_t p = 0; p < n; ++p) span[p] = transpose ? (p % side) * side + p / side : p;
  if (reverse) std::reverse(span.begin(), span.end());
  auto order = torch::arange(seq_len, torch::kInt64);
  auto o = order.accessor<int64_t, 1>();
  for (int64_t p = 0; p < n; ++p) o[img_start + p] = img_start + span[p];
  return order;
}

}  // namespace vrwkv
