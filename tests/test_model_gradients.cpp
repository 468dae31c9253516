// The whole model's gradient (vision tower, projector, assembly, every RWKV parameter, bi and
// multi scans) against float64 finite differences on a tiny random model.
#include <torch/torch.h>

#include "catch_compat.h"
#include "model/loss.h"
#include "model/visual_rwkv.h"
#include "tiny_model.h"

TEST_CASE("model gradient matches float64 finite differences", "[gradients]") {
  torch::manual_seed(11);
  vrwkv::VisualRWKV model(vrwkv::test::tiny_model_config());
  model->to(torch::kFloat64);
  {
    // Move every weight off its initial value so no gradient path is trivially zero.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.2);
  }
  const int64_t P = vrwkv::kImagePlaceholder, I = vrwkv::kIgnoreLabel;
  auto input_ids = torch::tensor(std::vector<int64_t>{3, P, 5, 7, 9, 2, 1, 4, 5, 6, P, 0, 8, 1, 2, 3, 4, 5}).view({3, 6});
  auto labels = torch::tensor(std::vector<int64_t>{I, I, 5, 7, 9, 2, I, I, I, I, 6, 0, I, 1, 2, 3, 4, I}).view({3, 6});
  // samples 0 and 1 hold the image at different places; sample 2 is text-only
  const auto images = torch::randn({3, 3, 28, 28}, torch::kFloat64);

  for (auto mode : {vrwkv::ScanMode::kBi, vrwkv::ScanMode::kMulti}) {
    INFO("scan mode " << vrwkv::to_string(mode));
    auto objective = [&] {
      const auto features = model->encode_images(images);
      const auto e = model->embed(input_ids, labels, features, 0);
      return vrwkv::next_token_loss(model->forward_embeds(e.embeds, mode, e.layout.img_start, e.layout.img_end),
                                    e.layout.labels);
    };
    model->zero_grad();
    objective().backward();

    torch::NoGradGuard no_grad;
    const double eps = 1e-6;
    int checked = 0;
    for (auto& item : model->named_parameters()) {
      auto& p = item.value();
      if (item.key().rfind("vit.post_layernorm.", 0) == 0) {
        CHECK_FALSE(p.grad().defined());  // VisualRWKV reads the encoder output before this norm
        continue;
      }
      INFO(item.key());
      REQUIRE(p.grad().defined());
      auto flat = p.view({-1});
      const auto grad = p.grad().view({-1});
      // A few coordinates of every parameter, including its largest-gradient one.
      std::vector<int64_t> coords = {grad.abs().argmax().item<int64_t>(), 0, flat.numel() - 1, flat.numel() / 2};
      for (int64_t i : coords) {
        const double saved = flat[i].item<double>();
        flat[i] = saved + eps;
        const double plus = objective().item<double>();
        flat[i] = saved - eps;
        const double minus = objective().item<double>();
        flat[i] = saved;
        const double numeric = (plus - minus) / (2 * eps), analytic = grad[i].item<double>();
        INFO(item.key() << "[" << i << "] analytic " << analytic << " numeric " << numeric);
        CHECK(std::abs(numeric - analytic) <= 1e-7 + 1e-5 * std::abs(analytic));
        ++checked;
      }
    }
    CHECK(checked > 100);
  }
}

TEST_CASE("gradient checkpointing gives the gradients of running without it", "[gradients]") {
  torch::manual_seed(5);
  vrwkv::VisualRWKV model(vrwkv::test::tiny_model_config());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.2);
  }
  for (auto& p : model->vit->parameters()) p.requires_grad_(false);  // frozen tower, as in training
  model->rwkv->blocks[0]->as<vrwkv::BlockImpl>()->att->time_decay.requires_grad_(false);  // a frozen tensor
  const int64_t P = vrwkv::kImagePlaceholder, I = vrwkv::kIgnoreLabel;
  const auto input_ids = torch::tensor(std::vector<int64_t>{3, P, 5, 7, 9, 2, 1, 4, 5, 6, 6, 0}).view({2, 6});
  const auto labels = torch::tensor(std::vector<int64_t>{I, I, 5, 7, 9, 2, I, 4, 5, 6, 6, 0}).view({2, 6});
  const auto images = torch::randn({2, 3, 28, 28});
  auto grads = [&](bool checkpoint) {
    model->rwkv->checkpoint_blocks = checkpoint;
    model->zero_grad();
    const auto e = model->embed(input_ids, labels, model->encode_images(images), 0);
    const auto logits = model->forward_embeds(e.embeds, vrwkv::ScanMode::kBi, e.layout.img_start, e.layout.img_end);
    vrwkv::training_loss(logits, e.layout.labels).backward();
    std::vector<torch::Tensor> out;
    for (const auto& p : model->parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    return out;
  };
  const auto plain = grads(false), checkpointed = grads(true);
  REQUIRE(plain.size() == checkpointed.size());
  int compared = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    REQUIRE(plain[i].defined() == checkpointed[i].defined());
    if (!plain[i].defined()) continue;
    CHECK(torch::equal(plain[i], checkpointed[i]));
    ++compared;
  }
  CHECK(compared > 30);
}
