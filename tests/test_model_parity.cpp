// Parity with numbers produced by the original VisualRWKV (fixtures/model_dev, or any fixture of
// that layout named by VRWKV_MODEL_FIXTURE): every size comes from the fixture's model.json.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "model/loss.h"
#include "model/visual_rwkv.h"
#include "tensor_compare.h"
#include "test_paths.h"

namespace {

using vrwkv::test::relative_error;

// Tolerances of fixtures/README.md for a float32 implementation.
constexpr double kLogitsTol = 1e-4;
constexpr double kLossTol = 1e-5;
constexpr double kGradTol = 1e-3;

std::string fixture_dir() {
  return vrwkv::test::env_or("VRWKV_MODEL_FIXTURE", vrwkv::test::shared_dir() + "/fixtures/model_dev");
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

torch::Tensor expect(const vrwkv::io::NamedTensors& tensors, const std::string& name) {
  auto t = vrwkv::io::find_tensor(tensors, name);
  INFO("expected.safetensors holds " << name);
  REQUIRE(t.defined());
  return t;
}

// On `device` (the GPU check runs it on CUDA); results are compared on the CPU.
void check_parity_with_weights(const std::string& weights_file, torch::Device device = torch::kCPU) {
  const std::string dir = fixture_dir();
  const auto meta = read_json(dir + "/model.json");
  const auto config = vrwkv::model_config_from_json(meta, dir + "/model.json");
  torch::manual_seed(0);
  vrwkv::VisualRWKV model(config);
  const auto report = vrwkv::io::load_into(*model, vrwkv::io::load_tensors(dir + "/" + weights_file), weights_file,
                                           {"rwkv.", "vit.", "proj."});
  CHECK(report.unexpected.empty());
  CHECK(report.missing.empty());
  // Every key the fixture lists has the shape our model gives it.
  const auto params = model->named_parameters();
  for (const auto& [name, shape] : meta.at("keys").items()) {
    INFO(name);
    REQUIRE(params.contains(name));
    CHECK(params[name].sizes().vec() == shape.get<std::vector<int64_t>>());
  }

  const auto x = vrwkv::io::load_tensors(dir + "/expected.safetensors");
  const auto input_ids = expect(x, "input_ids"), labels = expect(x, "labels");
  for (auto& p : model->vit->parameters()) p.requires_grad_(false);  // frozen, as in the fixture
  model->to(device);

  // Vision tower, pooling, projector. Samples without a placeholder get zeroed features.
  const auto features = model->encode_images(expect(x, "images").to(device)).cpu();
  const auto has_image = (input_ids == vrwkv::kImagePlaceholder).any(1);
  const auto shown = features * has_image.view({-1, 1, 1}).to(features.dtype());
  CHECK(features.size(1) == meta.at("image_feature_count").get<int64_t>());
  CHECK(relative_error(shown, expect(x, "image_features")) < kLogitsTol);

  // The assembled sequence.
  const auto embedded = model->embed(input_ids, labels, features.to(device), /*ctx_len=*/0);
  CHECK(embedded.layout.img_start == meta.at("img_start").get<int64_t>());
  CHECK(embedded.layout.img_end == meta.at("img_end").get<int64_t>());
  CHECK(torch::equal(embedded.layout.labels, expect(x, "embed_labels")));
  CHECK(relative_error(embedded.embeds.cpu(), expect(x, "embeds")) < kLogitsTol);

  // Logits in each scan mode.
  const auto& L = embedded.layout;
  for (const auto* mode : {"uni", "bi", "multi"}) {
    INFO("scan mode " << mode);
    torch::NoGradGuard no_grad;
    const auto logits =
        model->forward_embeds(embedded.embeds, vrwkv::scan_mode_from_string(mode), L.img_start, L.img_end);
    CHECK(relative_error(logits.cpu(), expect(x, std::string("logits_") + mode)) < kLogitsTol);
  }

  // Loss (bi) with L2Wrap, and the gradients of seven parameters: through the full logits, and
  // through forward_hidden + chunked_training_loss (what the trainer runs) at two chunk sizes.
  const double ref_loss = expect(x, "loss_bi").item<double>();
  auto check_loss_and_gradients = [&](const torch::Tensor& loss) {
    CHECK(std::abs(loss.item<double>() - ref_loss) <= kLossTol * std::abs(ref_loss));
    loss.backward();
    int checked = 0;
    for (const auto& [key, expected_grad] : x) {
      if (key.rfind("grad.", 0) != 0) continue;
      const std::string name = key.substr(5);
      INFO("gradient of " << name);
      REQUIRE(params.contains(name));
      REQUIRE(params[name].grad().defined());
      CHECK(relative_error(params[name].grad().cpu(), expected_grad) < kGradTol);
      ++checked;
    }
    CHECK(checked >= 7);
  };
  const auto logits = model->forward_embeds(embedded.embeds, vrwkv::ScanMode::kBi, L.img_start, L.img_end);
  check_loss_and_gradients(vrwkv::training_loss(logits, L.labels.to(device)));
  {
    torch::NoGradGuard no_grad;
    const auto hidden = model->forward_hidden(embedded.embeds, vrwkv::ScanMode::kBi, L.img_start, L.img_end);
    CHECK(torch::equal(model->rwkv->head(hidden), logits.detach()));
  }
  for (const int64_t chunk : {int64_t{0}, int64_t{7}}) {
    INFO("chunked loss, chunk_positions " << chunk);
    model->zero_grad();
    // Assembled afresh: the projector is trained, so the embeddings carry a graph.
    const auto e = model->embed(input_ids, labels, model->encode_images(expect(x, "images").to(device)), 0);
    const auto hidden = model->forward_hidden(e.embeds, vrwkv::ScanMode::kBi, L.img_start, L.img_end);
    check_loss_and_gradients(vrwkv::chunked_training_loss(hidden, model->rwkv->head->weight, e.layout.labels, chunk));
  }
}

}  // namespace

TEST_CASE("model parity with the original, weights from model.pth", "[parity]") {
  check_parity_with_weights("model.pth");
}

TEST_CASE("model parity with the original, weights from model.safetensors", "[parity]") {
  check_parity_with_weights("model.safetensors");
}

#if VRWKV_WITH_CUDA
// Run by `make gpu-check` on a GPU (not by CTest): the same fixtures and tolerances on CUDA in float32.
TEST_CASE("model parity with the original on CUDA in float32", "[cuda]") {
  REQUIRE(torch::cuda::is_available());
  // Plain float32 arithmetic: cuDNN's TF32 convolutions (on by default) would miss 1e-4 by design.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  check_parity_with_weights("model.safetensors", torch::Device(torch::kCUDA, 0));
}
#endif
