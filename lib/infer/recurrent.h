// Recurrent (RNN-mode) decoding of VisualRWKV: read the prompt once in parallel form, then one
// O(1) step per generated token. RWKV-6 is a recurrence, so the state after a position holds all a
// later position needs (SPEC section 2):
//   per block: the last input of TimeMix (its token shift), the WKV state S of every head, and the
//   last input of ChannelMix (its token shift).
// The scan modes (SPEC section 5) only permute positions inside the image span, so a block's state
// after the prompt is its state after the last position it read; tokens after the prompt are read in
// order by every block.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/sequence.h"
#include "model/visual_rwkv.h"

namespace vrwkv {

struct LayerState {
  torch::Tensor att_shift;  // [B, C]: ln1 output at the last position read (TimeMix's shift(x))
  torch::Tensor wkv;        // [B, H, N, N]: float32 (float64 for a float64 model)
  torch::Tensor ffn_shift;  // [B, C]: ln2 output at the last position read (ChannelMix's shift(x))
};

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

// The WKV recurrence with torch ops on any device (the path taken off the CPU; the CPU uses the
// kernel of model/wkv6.h). r, k, v, w: [B, C]; u: [H, N]; state [B, H, N, N] is replaced by the state
// after the step. Returns y [B, C] in r's dtype.
torch::Tensor wkv6_step_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state);
// The state after T steps from zeros, in closed form: S[i][j] = sum_t prod_{s>t} decay_s[i] k_t[i] v_t[j].
// k, v, w: [B, T, C]; returns [B, H, N, N] in float32 (float64 for float64 inputs).
torch::Tensor wkv6_final_state_ops(const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& w,
                                   int64_t head_size);

// Several steps from a non-zero state with torch ops and the wkv6 operator (the path off the CPU):
// y = wkv6 from zeros + each position's share of `state` decayed to it; `state` [B, H, N, N] is
// replaced by the state after the last step. r, k, v, w: [B, T, C]; u: [H, N].
torch::Tensor wkv6_from_state_ops(const torch::Tensor& r, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& w, const torch::Tensor& u, torch::Tensor& state);

}  // namespace vrwkv
