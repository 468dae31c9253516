// The RWKV-7 (x070) language model (SPEC-v7 sections 1-4). No fixture of the original's v7 exists yet,
// so the numbers are checked against the float64 model of rwkv7_reference.h, written from the spec
// alone: logits and every parameter's gradient, with the left padding to 16; the LoRA widths, names,
// shapes, order and initialisation against the spec's table; recurrent chunks against one pass; a
// plain RWKV-7 file loading strictly.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "catch_compat.h"
#include "io/state_dict.h"
#include "io/torch_file.h"
#include "model/rwkv7.h"
#include "rwkv7_reference.h"
#include "tensor_compare.h"
#include "tiny_models7.h"
#include "test_paths.h"

namespace {

using vrwkv::Rwkv7Config;
using vrwkv::test::Params;
using vrwkv::test::reference_rwkv7;
using vrwkv::test::relative_error;

using vrwkv::test::ends_with;

Rwkv7Config small_config() { return vrwkv::test::small_rwkv7_config(); }

void randomize(vrwkv::RWKV7& model, uint64_t seed) { vrwkv::test::randomize_rwkv7(*model, seed); }

Params params_of(vrwkv::RWKV7& model) {
  Params p;
  for (auto& item : model->named_parameters()) p[item.key()] = item.value();
  return p;
}

}  // namespace

TEST_CASE("RWKV-7 LoRA widths follow the spec's formulas, halves to even", "[rwkv7]") {
  struct Row {
    int64_t C, d_w, d_v, d_g;
  };
  // SPEC-v7 section 1: 0.1B, 0.4B, 1.5B and the two widths the spec works out.
  for (const auto& row : {Row{768, 64, 32, 128}, Row{1024, 64, 32, 160}, Row{2048, 96, 64, 256},
                          Row{2560, 96, 64, 320}, Row{4096, 128, 96, 480}}) {
    Rwkv7Config c;
    c.n_embd = row.C;
    const auto r = c.resolved();
    INFO("C = " << row.C);
    CHECK(r.d_decay == row.d_w);
    CHECK(r.d_aaa == row.d_w);
    CHECK(r.d_mv == row.d_v);
    CHECK(r.d_gate == row.d_g);
    CHECK(r.n_head() == row.C / 64);
    CHECK(r.dim_ffn() == 4 * row.C);
  }
  Rwkv7Config tiny;
  tiny.n_embd = 64;  // every formula falls below the floor of 32
  CHECK(tiny.resolved().d_decay == 32);
  CHECK(tiny.resolved().d_gate == 32);
  Rwkv7Config bad;
  bad.n_embd = 100;
  CHECK_THROWS_WITH(bad.resolved(), vrwkv::test::contains("model.n_embd"));
}

TEST_CASE("RWKV-7 0.1B has the original's parameter names, shapes and order", "[rwkv7]") {
  vrwkv::RWKV7 model(Rwkv7Config{});  // the defaults are RWKV-x070-World-0.1B: L 12, C 768
  const auto params = model->named_parameters();
  std::vector<std::string> names;
  for (const auto& item : params) names.push_back(item.key());

  auto shape = [&](const std::string& name) { return params[name].sizes().vec(); };
  using S = std::vector<int64_t>;
  CHECK(shape("emb.weight") == S{65536, 768});
  CHECK(shape("head.weight") == S{65536, 768});
  CHECK(shape("blocks.0.ln0.weight") == S{768});
  CHECK(shape("blocks.3.att.x_a") == S{1, 1, 768});
  CHECK(shape("blocks.3.att.w1") == S{768, 64});
  CHECK(shape("blocks.3.att.w2") == S{64, 768});
  CHECK(shape("blocks.3.att.a1") == S{768, 64});
  CHECK(shape("blocks.3.att.v1") == S{768, 32});
  CHECK(shape("blocks.3.att.v2") == S{32, 768});
  CHECK(shape("blocks.3.att.g1") == S{768, 128});
  CHECK(shape("blocks.3.att.g2") == S{128, 768});
  CHECK(shape("blocks.3.att.r_k") == S{12, 64});
  CHECK(shape("blocks.3.att.receptance.weight") == S{768, 768});
  CHECK(shape("blocks.3.att.ln_x.bias") == S{768});
  CHECK(shape("blocks.11.ffn.key.weight") == S{3072, 768});
  CHECK(shape("blocks.11.ffn.value.weight") == S{768, 3072});
  CHECK(shape("ln_out.bias") == S{768});

  // Block 0: ln0, no value residual. Block 1 onwards: v0, v1, v2, no ln0. Nothing of v6.
  CHECK(params.find("blocks.0.att.v0") == nullptr);
  CHECK(params.find("blocks.0.att.v1") == nullptr);
  CHECK(params.find("blocks.1.ln0.weight") == nullptr);
  for (const auto& n : names) {
    INFO(n);
    CHECK(n.find("time_") == std::string::npos);
    CHECK(n.find("gate") == std::string::npos);
    CHECK(n.find("ffn.receptance") == std::string::npos);
  }

  // The state-dict order of SPEC-v7 section 4, block 0 and a later block.
  auto block_names = [&](int i) {
    std::vector<std::string> out;
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    for (const auto& n : names)
      if (n.rfind(prefix, 0) == 0) out.push_back(n.substr(prefix.size()));
    return out;
  };
  const std::vector<std::string> att = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w1", "w2", "w0", "a1", "a2", "a0"};
  const std::vector<std::string> att_tail = {"g1", "g2", "k_k", "k_a", "r_k", "receptance.weight", "key.weight",
                                             "value.weight", "output.weight", "ln_x.weight", "ln_x.bias"};
  auto expected = [&](bool first) {
    std::vector<std::string> out;
    if (first) out = {"ln0.weight", "ln0.bias"};
    for (const auto* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) out.push_back(n);
    for (const auto& n : att) out.push_back("att." + n);
    if (!first)
      for (const auto* n : {"v1", "v2", "v0"}) out.push_back(std::string("att.") + n);
    for (const auto& n : att_tail) out.push_back("att." + n);
    for (const auto* n : {"ffn.x_k", "ffn.key.weight", "ffn.value.weight"}) out.push_back(n);
    return out;
  };
  CHECK(block_names(0) == expected(true));
  CHECK(block_names(7) == expected(false));
  CHECK(names.front() == "emb.weight");
  CHECK(names.back() == "head.weight");
  // emb, block 0 (32 tensors), 11 blocks of 33 (the residual gate's 3 more, no ln0's 2), ln_out, head.
  CHECK(names.size() == 1 + 32 + 11 * 33 + 2 + 1);
}

TEST_CASE("RWKV-7 initialisation is the original's", "[rwkv7]") {
  Rwkv7Config c;
  c.n_layer = 4;
  c.n_embd = 128;
  c.vocab_size = 300;
  torch::manual_seed(3);
  vrwkv::RWKV7 model(c);
  const auto p = model->named_parameters();
  const double C = 128, L = 4;
  const auto d = torch::arange(128, torch::kFloat64) / C;
  const auto n = torch::arange(128, torch::kFloat64) / (C - 1);
  auto close = [](const torch::Tensor& a, const torch::Tensor& b) { return relative_error(a.flatten(), b.flatten()) < 1e-6; };
  for (int i = 0; i < 4; ++i) {
    INFO("layer " << i);
    const std::string a = "blocks." + std::to_string(i) + ".att.";
    const double r0 = i / (L - 1), r1 = 1 - i / L;
    CHECK(close(p[a + "x_r"], 1 - d.pow(0.2 * r1)));
    CHECK(close(p[a + "x_g"], 1 - d.pow(0.2 * r1)));
    CHECK(close(p[a + "x_w"], 1 - d.pow(0.9 * r1)));
    CHECK(close(p[a + "x_a"], 1 - d.pow(0.9 * r1)));
    CHECK(close(p[a + "x_k"], 1 - (d.pow(0.9 * r1) + 0.4 * r0)));
    CHECK(close(p[a + "x_v"], 1 - (d.pow(0.4 * r1) + 0.6 * r0)));
    CHECK(close(p[a + "w0"], -7 + 5 * n.pow(0.85 + std::sqrt(r0)) + 0.5));
    CHECK(close(p["blocks." + std::to_string(i) + ".ffn.x_k"], 1 - d.pow(std::pow(r1, 4))));
    for (const auto* zero : {"w1", "a1", "g1", "a0", "r_k", "output.weight"}) {
      INFO(zero);
      CHECK(p[a + zero].abs().max().item<double>() == 0.0);
    }
    CHECK(p["blocks." + std::to_string(i) + ".ffn.value.weight"].abs().max().item<double>() == 0.0);
    CHECK(torch::all(p[a + "k_k"] == 0.85f).item<bool>());
    CHECK(torch::all(p[a + "k_a"] == 1.0f).item<bool>());
    // The second LoRA factors: rows orthonormal, times 0.1.
    for (const auto* lora : {"w2", "a2", "g2"}) {
      INFO(lora);
      const auto w = p[a + lora].to(torch::kFloat64);
      const auto gram = torch::matmul(w, w.t());
      CHECK((gram - 0.01 * torch::eye(w.size(0), torch::kFloat64)).abs().max().item<double>() < 1e-6);
    }
    if (i > 0) {
      CHECK(p[a + "v1"].abs().max().item<double>() == 0.0);
      CHECK(torch::all(p[a + "v0"] == 1.0f).item<bool>());
      const auto v2 = p[a + "v2"].to(torch::kFloat64);
      CHECK((torch::matmul(v2, v2.t()) - 0.01 * torch::eye(v2.size(0), torch::kFloat64)).abs().max().item<double>() <
            1e-6);
    }
    // Uniform bounds: receptance and value 0.5/sqrt(C), key 0.05/sqrt(C), ffn.key 0.5/sqrt(C); each
    // is filled (its largest entry close to the bound).
    auto bound_is = [&](const std::string& name, double bound) {
      const double m = p[name].abs().max().item<double>();
      INFO(name << " max " << m << " bound " << bound);
      CHECK(m <= bound);
      CHECK(m > 0.95 * bound);
    };
    bound_is(a + "receptance.weight", 0.5 / std::sqrt(C));
    bound_is(a + "value.weight", 0.5 / std::sqrt(C));
    bound_is(a + "key.weight", 0.05 / std::sqrt(C));
    bound_is("blocks." + std::to_string(i) + ".ffn.key.weight", 0.5 / std::sqrt(C));
    CHECK(torch::all(p[a + "ln_x.weight"] == 1.0f).item<bool>());
  }
  CHECK(std::abs(p["emb.weight"].std().item<double>() - 1.0) < 0.02);  // PyTorch's N(0, 1)
}

TEST_CASE("RWKV-7 forward equals the float64 reference, padding included", "[rwkv7]") {
  const auto c = small_config();
  vrwkv::RWKV7 model(c);
  randomize(model, 11);
  for (int64_t T : {20, 32, 7}) {  // padded by 12, not padded, padded by 9
    INFO("T = " << T);
    torch::manual_seed(100 + T);
    const auto x = torch::randn({2, T, c.n_embd}, torch::kFloat64);
    const auto expected = reference_rwkv7(params_of(model), x, c.n_layer, c.head_size);

    model->to(torch::kFloat64);
    torch::Tensor logits64;
    {
      torch::NoGradGuard no_grad;
      logits64 = model->forward(x);
    }
    CHECK(logits64.sizes() == torch::IntArrayRef({2, T, c.vocab_size}));
    CHECK(relative_error(logits64, expected) < 1e-12);

    model->to(torch::kFloat32);
    torch::Tensor logits32;
    {
      torch::NoGradGuard no_grad;
      logits32 = model->forward(x.to(torch::kFloat32));
    }
    CHECK(relative_error(logits32, expected) < 1e-4);  // the fixtures' float32 logits tolerance
  }
}

TEST_CASE("RWKV-7 pads in front with the embedding of token 261", "[rwkv7]") {
  // The pads are ordinary tokens to the recurrence: which token pads changes every logit after it.
  const auto c = small_config();
  vrwkv::RWKV7 model(c);
  randomize(model, 12);
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 20, c.n_embd}, torch::kFloat64);
  const auto padded = model->pad_left(x);
  REQUIRE(padded.size(1) == 32);
  CHECK(torch::equal(padded.narrow(1, 0, 12), model->emb->weight[261].expand({1, 12, c.n_embd})));
  CHECK(torch::equal(padded.narrow(1, 12, 20), x));
  CHECK(model->pad_left(padded).size(1) == 32);  // a multiple of 16 is left alone
  auto read_after = [&](int64_t pad_id) {
    const auto pads = model->emb->weight[pad_id].expand({1, 12, c.n_embd});
    return model->head(model->forward_hidden(torch::cat({pads, x}, 1))).narrow(1, 12, 20);
  };
  const auto logits = model->forward(x);
  CHECK(relative_error(logits, read_after(261)) < 1e-14);
  CHECK(relative_error(logits, read_after(0)) > 1e-3);
}

TEST_CASE("RWKV-7 gradients of every parameter equal autograd through the float64 reference", "[rwkv7]") {
  const auto c = small_config();
  vrwkv::RWKV7 model(c);
  randomize(model, 13);
  model->to(torch::kFloat64);
  torch::manual_seed(14);
  const int64_t T = 20;
  const auto x = torch::randn({2, T, c.n_embd}, torch::kFloat64);
  const auto weights = torch::randn({2, T, c.vocab_size}, torch::kFloat64);

  auto x_model = x.clone().requires_grad_(true);
  (model->forward(x_model) * weights).sum().backward();

  Params ref;
  for (auto& item : model->named_parameters()) ref[item.key()] = item.value().detach().clone().requires_grad_(true);
  auto x_ref = x.clone().requires_grad_(true);
  (reference_rwkv7(ref, x_ref, c.n_layer, c.head_size) * weights).sum().backward();

  CHECK(relative_error(x_model.grad(), x_ref.grad()) < 1e-10);
  int64_t compared = 0;
  for (auto& item : model->named_parameters()) {
    INFO(item.key());
    const auto& expected = ref.at(item.key()).grad();
    REQUIRE(item.value().grad().defined());
    REQUIRE(expected.defined());
    REQUIRE(expected.norm().item<double>() > 0);  // every parameter takes part (emb through the pads)
    CHECK(relative_error(item.value().grad(), expected) < 1e-10);
    ++compared;
  }
  CHECK(compared == static_cast<int64_t>(model->parameters().size()));
}

TEST_CASE("RWKV-7 read in recurrent chunks equals one pass", "[rwkv7]") {
  const auto c = small_config();
  vrwkv::RWKV7 model(c);
  randomize(model, 15);
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  torch::manual_seed(16);
  const auto x = torch::randn({2, 26, c.n_embd}, torch::kFloat64);
  const auto whole = model->forward_hidden(x);  // padded by 6 in front

  std::vector<vrwkv::LayerState> states(c.n_layer);
  std::vector<torch::Tensor> parts;
  int64_t at = 0;
  bool fresh = true;
  for (int64_t len : {10, 7, 9}) {  // the first chunk is padded (it starts the sequence), the rest not
    parts.push_back(model->forward_hidden(x.narrow(1, at, len), &states, fresh));
    at += len;
    fresh = false;
  }
  CHECK(relative_error(torch::cat(parts, 1), whole) < 1e-12);
  CHECK(states[0].wkv.scalar_type() == torch::kFloat64);
  CHECK(states[0].wkv.sizes() == torch::IntArrayRef({2, 4, 8, 8}));

  // A fresh start on the same states forgets them.
  const auto again = model->forward_hidden(x, &states, /*fresh=*/true);
  CHECK(relative_error(again, whole) < 1e-12);

  std::vector<vrwkv::LayerState> too_few(1);
  CHECK_THROWS_WITH(model->forward_hidden(x, &too_few, true), vrwkv::test::contains("recurrent state has 1 layers"));
}

TEST_CASE("RWKV-7 with the chunked WKV7 gives the per-step kernel's logits, gradients and decoding", "[rwkv7]") {
  auto c = small_config();
  vrwkv::RWKV7 recurrent(c);
  randomize(recurrent, 17);
  c.wkv_kernel = vrwkv::Wkv7Kernel::kChunked;
  vrwkv::RWKV7 chunked(c);
  randomize(chunked, 17);
  recurrent->to(torch::kFloat64);
  chunked->to(torch::kFloat64);
  torch::manual_seed(18);
  const auto x = torch::randn({2, 37, c.n_embd}, torch::kFloat64);  // padded by 11 to three chunks
  const auto weights = torch::randn({2, 37, c.vocab_size}, torch::kFloat64);
  (recurrent->forward(x) * weights).sum().backward();
  const auto logits = chunked->forward(x);
  (logits * weights).sum().backward();
  // With gradient checkpointing (the recipe's setting) the chunked blocks are recomputed in backward,
  // the state scan's own backward inside that one: the same gradients.
  std::map<std::string, torch::Tensor> plain_grads;
  for (auto& item : chunked->named_parameters()) plain_grads[item.key()] = item.value().grad().clone();
  chunked->zero_grad();
  chunked->checkpoint_blocks = true;
  (chunked->forward(x) * weights).sum().backward();
  torch::NoGradGuard no_grad;
  CHECK(relative_error(logits, recurrent->forward(x)) < 1e-12);  // float64 both ways
  const auto expected = recurrent->named_parameters();
  for (auto& item : chunked->named_parameters()) {
    INFO(item.key());
    CHECK(relative_error(plain_grads.at(item.key()), expected[item.key()].grad()) < 1e-10);
    CHECK(relative_error(item.value().grad(), plain_grads.at(item.key())) < 1e-12);
  }
  chunked->checkpoint_blocks = false;
  // Decoding: a chunked prompt (padded by 11 in front, as the whole is), one step (the per-step kernel),
  // then another chunked piece, as one pass.
  std::vector<vrwkv::LayerState> states(c.n_layer);
  const auto prompt = chunked->forward_hidden(x.narrow(1, 0, 21), &states, /*fresh=*/true);
  const auto next = chunked->forward_hidden(x.narrow(1, 21, 1), &states, /*fresh=*/false);
  const auto rest = chunked->forward_hidden(x.narrow(1, 22, 15), &states, /*fresh=*/false);
  CHECK(relative_error(torch::cat({prompt, next, rest}, 1), recurrent->forward_hidden(x)) < 1e-12);
}

TEST_CASE("A plain RWKV-7 World file loads strictly under rwkv.", "[rwkv7]") {
  // The original's VisualRWKV holds the LM as `rwkv`; a plain file's keys (emb.*, blocks.*, ...) map to
  // rwkv.<key> and must all land, with nothing missing or left over.
  struct Holder : torch::nn::Module {
    explicit Holder(const Rwkv7Config& c) { rwkv = register_module("rwkv", vrwkv::RWKV7(c)); }
    vrwkv::RWKV7 rwkv{nullptr};
  };
  const auto c = small_config();
  vrwkv::RWKV7 source(c);
  randomize(source, 17);
  vrwkv::io::NamedTensors plain;
  for (auto& item : source->named_parameters())
    plain.emplace_back(item.key(), item.value().detach().to(torch::kBFloat16));  // World files are bf16
  const auto dir = vrwkv::test::scratch_dir("rwkv7_load");
  const auto path = (dir / "RWKV-x070-tiny.pth").string();
  vrwkv::io::write_torch_file(path, plain);

  Holder target(c);
  const auto file = vrwkv::io::read_torch_file(path);
  const auto report = vrwkv::io::load_into(target, file, path, {"rwkv."});
  CHECK(report.loaded.size() == plain.size());
  CHECK(report.missing.empty());
  CHECK(report.unexpected.empty());
  CHECK(report.ignored.empty());
  for (auto& item : source->named_parameters()) {
    INFO(item.key());
    CHECK(torch::equal(target.rwkv->named_parameters()[item.key()], item.value().to(torch::kBFloat16).to(torch::kFloat32)));
  }

  // A file made with other LoRA widths does not load, and says which key and shapes differ.
  auto wide = plain;
  for (auto& [name, t] : wide)
    if (name == "blocks.1.att.v1") t = torch::zeros({c.n_embd, 32}, torch::kBFloat16);
  try {
    vrwkv::io::load_into(target, wide, "wide.pth", {"rwkv."});
    FAIL("a wrong LoRA width loaded");
  } catch (const vrwkv::Error& e) {
    CHECK_THAT(std::string(e.what()), vrwkv::test::contains("blocks.1.att.v1"));
    CHECK_THAT(std::string(e.what()), vrwkv::test::contains("[32, 32]"));
  }
}

TEST_CASE("RWKV-7 checkpointed blocks give the gradients of the plain forward, value residual included", "[rwkv7]") {
  const auto c = small_config();
  vrwkv::RWKV7 model(c);
  randomize(model, 15);
  model->to(torch::kFloat64);
  torch::manual_seed(16);
  const auto x = torch::randn({2, 20, c.n_embd}, torch::kFloat64);
  const auto weights = torch::randn({2, 20, c.vocab_size}, torch::kFloat64);
  // Block 0 frozen: its checkpoint has no trainable tensor, yet v_first's gradient must flow through it.
  for (auto& p : model->blocks[0]->parameters()) p.requires_grad_(false);
  auto run = [&](bool checkpoint) {
    model->checkpoint_blocks = checkpoint;
    model->zero_grad();
    auto xin = x.clone().requires_grad_(true);
    (model->forward(xin) * weights).sum().backward();
    std::vector<torch::Tensor> grads = {xin.grad()};
    for (const auto& p : model->parameters())
      if (p.requires_grad()) grads.push_back(p.grad().clone());
    return grads;
  };
  const auto plain = run(false), checkpointed = run(true);
  REQUIRE(plain.size() == checkpointed.size());
  REQUIRE(plain.size() > 10);
  for (size_t i = 0; i < plain.size(); ++i) {
    INFO("gradient " << i);
    REQUIRE(checkpointed[i].defined());
    CHECK(relative_error(checkpointed[i], plain[i]) < 1e-12);
  }
  // Under no_grad nothing is recorded either way.
  torch::NoGradGuard no_grad;
  model->checkpoint_blocks = true;
  CHECK_FALSE(model->forward(x).requires_grad());
}
