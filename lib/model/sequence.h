// The batch sequence of SPEC section 5: where each position's embedding comes from, and the scan
// orders of the image span (section 5, "scan modes").
//
// The layout is planned on the host from input_ids and labels alone, then the model fills it with
// one gather per source (token embeddings, image features), so the assembly costs no per-sample
// device work.
#pragma once
#include <torch/torch.h>

#include <string>

namespace vrwkv {

constexpr int64_t kImagePlaceholder = -200;
constexpr int64_t kIgnoreLabel = -100;

struct SequenceLayout {
  torch::Tensor token_ids;    // [B, L] int64: the token to embed, where is_token
  torch::Tensor is_token;     // [B, L] bool
  torch::Tensor image_rows;   // [B, L] int64: row of the [B * K + 1] image table (the last row is zero)
  torch::Tensor labels;       // [B, L] int64, kIgnoreLabel where nothing is predicted
  torch::Tensor has_image;    // [B] bool
  int64_t img_start = 0;      // m
  int64_t img_end = 0;        // m + K - 1: the span excludes the last image embedding (cls)
  int64_t image_tokens = 0;   // K
};

// input_ids, labels: [B, T] int64 on the CPU (kImagePlaceholder marks the image).
// ctx_len <= 0 keeps every position. Throws vrwkv::Error for two placeholders in one sample or an
// image span that does not fit in ctx_len.
SequenceLayout plan_sequence(const torch::Tensor& input_ids, const torch::Tensor& labels, int64_t image_tokens,
                             int64_t ctx_len);

enum class ScanMode { kUni, kBi, kMulti };

ScanMode scan_mode_from_string(const std::string& name);  // "uni" | "bi" | "multi"
std::string to_string(ScanMode mode);

// The gather index over T that block `layer_id` reads the sequence in, or an undefined tensor when
// the block reads it as is. Multi needs a square span and throws vrwkv::Error otherwise.
torch::Tensor scan_order(ScanMode mode, int64_t layer_id, int64_t seq_len, int64_t img_start, int64_t img_end);

}  // namespace vrwkv
