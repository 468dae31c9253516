// Recurrent (RNN-mode) decoding of VisualRWKV: read the prompt once in parallel form, then one
// O(1) step per generated token. RWKV-6 is a recurrence, so the state after a position holds all a
// later position needs (SPEC section 2):
//   per block: the last input of TimeMix (its token shift), the WKV state S of every head, and the
//   last input of ChannelMix (its token shift): model/rwkv6.h's LayerState. The blocks are the
//   training model's own (RWKVImpl::forward_blocks with states); this file holds the state.
// The scan modes (SPEC section 5) only permute positions inside the image span, so a block's state
// after the prompt is its state after the last position it read; tokens after the prompt are read in
// order by every block.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/sequence.h"
#include "model/visual_rwkv.h"

namespace vrwkv {

struct RecurrentState {
  std::vector<LayerState> layers;
  int64_t positions = 0;  // positions read so far; 0 means every tensor is zero

  // The state before position 0 (all zeros) for a batch of `batch` sequences on the model's device.
  static RecurrentState zeros(VisualRWKV& model, int64_t batch);
  // A deep copy (to branch a decode without disturbing the original).
  RecurrentState clone() const;
};

// Reads an assembled sequence embeds [B, T, C] (VisualRWKVImpl::embed, image included) in parallel
// form in the scan mode: the computation of forward_embeds, block by block. Returns the state after
// position T - 1 and, when last_logits is given, the logits of position T - 1 [B, V]. Every position
// of embeds is read, padding included: batch prompts of one length (or B = 1).
RecurrentState prefill(VisualRWKV& model, const torch::Tensor& embeds, ScanMode mode, int64_t img_start,
                       int64_t img_end, torch::Tensor* last_logits);
// The same for a chunk that continues after `state` (from zeros when state.positions is 0): the
// span [img_start, img_end) is given within the chunk (img_start == img_end: no span). Since a scan
// mode only reorders the span, reading a prompt as [text before | image span | text after] chunk
// by chunk gives the state of reading it whole.
void read_chunk(VisualRWKV& model, RecurrentState& state, const torch::Tensor& embeds, ScanMode mode,
                int64_t img_start, int64_t img_end, torch::Tensor* last_logits);

// Rows of a batched state, for decoding sequences that start and finish at different times.
// rows: int64 indices (any device). positions are kept as they are: a batch is fresh only when
// every row is.
RecurrentState select_rows(const RecurrentState& state, const torch::Tensor& rows);
// Writes src's rows into dst at `rows` (src holds rows.numel() sequences).
void put_rows(RecurrentState& dst, const torch::Tensor& rows, const RecurrentState& src);
// The sequences of several states, one after another (every state non-empty and alike).
RecurrentState concat_rows(const std::vector<RecurrentState>& states);

// One position for each sequence: token_ids [B] (int64). Updates the state; returns logits [B, V]:
// the logits forward_embeds gives at that position of the whole sequence.
torch::Tensor step(VisualRWKV& model, RecurrentState& state, const torch::Tensor& token_ids);
// The same for an arbitrary input embedding x [B, C] (an image or padding position).
torch::Tensor step_embeds(VisualRWKV& model, RecurrentState& state, const torch::Tensor& x);

}  // namespace vrwkv
