#include "train/train_model.h"

#include "base/error.h"
#include "train/progress.h"

namespace vrwkv::train {
TrainModel TrainModel::from_config(const RunConfig& config) {
  if (config.family == ModelFamily::kV7) return TrainModel(VisualRWKV7(config.model7));
  return TrainModel(VisualRWKV(config.model));
}

torch::nn::Module& TrainModel::module() const {
  VRWKV_CHECK(v6_ || v7_, "TrainModel: no model");
  // The holders share their module: a copy gives non-const access to the one this object holds.
  if (v7_) {
    VisualRWKV7 m = v7_;
    return *m;
  }
  VisualRWKV m = v6_;
  return *m;
}

TrainModel::Forward TrainModel::forward(const Batch& batch, const RunConfig& config, torch::Device device) const {
  if (v7_) {
    VisualRWKV7 m = v7_;
    // SPEC-v7 section 7: the towers see every image of the batch at once, the tokens overwrite the
    // placeholders in place; the labels are the batch's own (nothing is inserted).
    const auto embeds = m->embed(batch.input_ids, m->encode_images(batch.towers));
    return {m->forward_hidden(embeds), batch.labels};
  }
  VisualRWKV m = v6_;
  const auto features = m->encode_images(batch.images.to(device));
  const auto e = m->embed(batch.input_ids, batch.labels, features, config.data.ctx_len);
  return {m->forward_hidden(e.embeds, config.scan_mode, e.layout.img_start, e.layout.img_end), e.layout.labels};
}

const torch::Tensor& TrainModel::head_weight() const {
  return v7_ ? v7_->rwkv->head->weight : v6()->rwkv->head->weight;
}

double TrainModel::flops_per_token(int64_t ctx_len) const {
  return v7_ ? train::flops_per_token(v7_, ctx_len) : train::flops_per_token(v6(), ctx_len);
}

const VisualRWKV& TrainModel::v6() const {
  VRWKV_CHECK(v6_, "this run's model is VisualRWKV-7 (model.family v7), not v6");
  return v6_;
}

const VisualRWKV7& TrainModel::v7() const {
  VRWKV_CHECK(v7_, "this run's model is VisualRWKV v6 (model.family v6), not v7");
  return v7_;
}

}  // namespace vrwkv::train
