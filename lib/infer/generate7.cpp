#include "infer/generate7.h"

#include <map>

#include "base/error.h"
#include "model/image_placement.h"

namespace vrwkv {

namespace {

std::string without_markers(std::string q) {
  for (size_t at; (at = q.find(text::kImageMarker)) != std::string::npos;)
    q.erase(at, std::string(text::kImageMarker).size());
  return q;
}

// The logits [V] of the last position of `hidden` (ln_out's states [1, T, C]), float32 on the CPU.
torch::Tensor last_logits(VisualRWKV7& model, const torch::Tensor& hidden) {
  return model->rwkv->head(hidden.select(1, hidden.size(1) - 1))[0].to(torch::kFloat32).cpu();
}

}  // namespace

std::string v7_prompt_text(const std::string& question, int64_t images) {
  std::string out = "User: ";
  for (int64_t n = 0; n < images; ++n) out += std::string(text::kImageMarker) + "\n";
  return out + without_markers(question) + "\n\n" + kAssistantPrompt;
}

std::vector<int64_t> v7_prompt_ids(const std::string& question, int64_t images, int64_t K,
                                   const text::Tokenizer& tokenizer) {
  const std::string q = without_markers(question);
  std::vector<int64_t> ids;
  auto text = [&](const std::string& s) {
    const auto piece = tokenizer.encode(s);
    ids.insert(ids.end(), piece.begin(), piece.end());
  };
  text("User: ");
  for (int64_t n = 0; n < images; ++n) {
    ids.insert(ids.end(), K, kV7ImagePlaceholderId);
    if (n + 1 < images) text("\n");
  }
  text(std::string(images > 0 ? "\n" : "") + q + "\n\n" + kAssistantPrompt);
  return ids;
}

Decoder7::Decoder7(VisualRWKV7 model, const text::Tokenizer& tokenizer, int64_t ctx_len)
    : model_(std::move(model)), tokenizer_(tokenizer), ctx_len_(ctx_len) {
  model_->eval();
}

std::vector<DecodeResult> Decoder7::run(const std::vector<DecodeRequest>& requests, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  std::vector<DecodeResult> results(requests.size());
  if (requests.empty()) return results;
  auto& rwkv = model_->rwkv;
  const auto device = rwkv->emb->weight.device();
  const int64_t K = model_->config.tokens_per_image, n_layer = static_cast<int64_t>(rwkv->blocks->size());

  // --- 1. prompts of equal length together ------------------------------------------------------
  std::vector<std::vector<int64_t>> ids(requests.size());
  std::map<int64_t, std::vector<int64_t>> groups;  // prompt length -> requests
  for (size_t i = 0; i < requests.size(); ++i) {
    const int64_t images = image_count(requests[i].towers);
    ids[i] = v7_prompt_ids(requests[i].question, images, K, tokenizer_);
    const int64_t T = static_cast<int64_t>(ids[i].size());
    VRWKV_CHECK(ctx_len_ <= 0 || T <= ctx_len_, "the prompt has ", T, " ids (its images included), more than ctx_len ",
                ctx_len_);
    results[i].prompt = v7_prompt_text(requests[i].question, images);
    results[i].prompt_positions = T;
    groups[T].push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> order;  // the request of each row of the joined batch
  std::vector<std::vector<LayerState>> group_states;
  std::vector<torch::Tensor> group_logits;
  for (const auto& [T, rows] : groups) {
    std::vector<TowerPixels> pixels;
    auto input_ids = torch::empty({static_cast<int64_t>(rows.size()), T}, torch::kInt64);
    for (size_t j = 0; j < rows.size(); ++j) {
      pixels.push_back(requests[rows[j]].towers);
      input_ids[j].copy_(torch::tensor(ids[rows[j]], torch::kInt64));
    }
    const auto embeds = model_->embed(input_ids, model_->encode_images(concat_tower_pixels(pixels)));
    std::vector<LayerState> states(n_layer);
    const auto hidden = rwkv->forward_hidden(embeds, &states, /*fresh=*/true);
    group_logits.push_back(rwkv->head(hidden.select(1, T - 1)));
    group_states.push_back(std::move(states));
    order.insert(order.end(), rows.begin(), rows.end());
  }

  // --- 2. the groups' states as one batch, then one batched step per token ---------------------
  std::vector<LayerState> states(n_layer);
  for (int64_t l = 0; l < n_layer; ++l) {
    std::vector<torch::Tensor> att, wkv, ffn;
    for (const auto& g : group_states) {
      att.push_back(g[l].att_shift);
      wkv.push_back(g[l].wkv);
      ffn.push_back(g[l].ffn_shift);
    }
    states[l] = {torch::cat(att), torch::cat(wkv), torch::cat(ffn)};
  }
  std::vector<uint64_t> seeds;
  for (int64_t i : order) seeds.push_back(requests[i].seed);
  const auto decoded = decode_batch(
      torch::cat(group_logits), seeds,
      [&](const std::vector<int64_t>& rows, const std::vector<int64_t>& next_ids, bool shrunk) {
        const int64_t n = static_cast<int64_t>(rows.size());
        if (shrunk) {
          const auto keep = torch::tensor(rows, torch::kInt64).to(device);
          for (auto& s : states) s = {s.att_shift.index_select(0, keep), s.wkv.index_select(0, keep),
                                      s.ffn_shift.index_select(0, keep)};
        }
        const auto x = rwkv->emb(torch::tensor(next_ids, torch::kInt64).to(device)).view({n, 1, -1});
        return rwkv->head(rwkv->forward_hidden(x, &states, /*fresh=*/false).select(1, 0));
      },
      tokenizer_, options);
  for (size_t j = 0; j < order.size(); ++j) results[order[j]].decoded = decoded[j];
  return results;
}

Decoded Generator7::generate(const std::string& question, const TowerPixels& pixels, const GenerateOptions& options) {
  return decoder_.run({{question, torch::Tensor(), options.seed, pixels}}, options).at(0).decoded;
}

Decoded decode_by_rerun7(VisualRWKV7& model, const text::Tokenizer& tokenizer, const std::string& question,
                         const TowerPixels& pixels, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto tokens = model->encode_images(pixels);
  auto ids = v7_prompt_ids(question, image_count(pixels), model->config.tokens_per_image, tokenizer);
  auto logits_after = [&]() {
    const auto embeds = model->embed(torch::tensor(ids, torch::kInt64).view({1, -1}), tokens);
    return last_logits(model, model->rwkv->forward_hidden(embeds));
  };
  return decode_tokens(
      logits_after(),
      [&](int64_t id) {
        ids.push_back(id);
        return logits_after();
      },
      tokenizer, options);
}

}  // namespace vrwkv
