// VisualRWKV: CLIP vision tower -> grid pooling -> projector -> image embeddings placed in the
// token sequence (SPEC section 5) -> RWKV-6 in the configured scan mode.
#pragma once
#include <torch/torch.h>

#include "model/clip_vision.h"
#include "model/config.h"
#include "model/rwkv6.h"
#include "model/sequence.h"

namespace vrwkv {

// Grid pooling of SPEC section 4. features [B, 1 + P, D] -> [B, K, D].
torch::Tensor pool_image_features(const torch::Tensor& features, int64_t grid_size);

// The blocks' orders of SPEC section 5's scan mode for a sequence of length T whose image span is
// [img_start, img_end) (empty: none), the gathers on `device`; checks the span once.
BlockOrder scan_block_order(ScanMode mode, int64_t T, int64_t img_start, int64_t img_end, torch::Device device);

struct Embedded {
  torch::Tensor embeds;  // [B, L, C]
  SequenceLayout layout;
};

struct VisualRWKVImpl : torch::nn::Module {
  explicit VisualRWKVImpl(const ModelConfig& config);

  // images [B, 3, S, S] (or [B, 1, 3, S, S]) -> K projected image embeddings per sample [B, K, C].
  // The vision tower records no autograd graph unless one of its parameters is trained.
  torch::Tensor encode_images(const torch::Tensor& images);
  // The assembled input sequence; features of samples without a placeholder are replaced by zeros.
  Embedded embed(const torch::Tensor& input_ids, const torch::Tensor& labels, const torch::Tensor& image_features,
                 int64_t ctx_len);
  // The language model on an assembled sequence in a scan mode: logits [B, L, V].
  torch::Tensor forward_embeds(const torch::Tensor& embeds, ScanMode mode, int64_t img_start, int64_t img_end);
  // The same without the head: the hidden states [B, L, C] after ln_out, for chunked_training_loss.
  torch::Tensor forward_hidden(const torch::Tensor& embeds, ScanMode mode, int64_t img_start, int64_t img_end);

  ModelConfig config;
  RWKV rwkv{nullptr};
  ClipVision vit{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(VisualRWKV);

}  // namespace vrwkv
