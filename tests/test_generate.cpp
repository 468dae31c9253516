// Recurrent decoding and generation: the state-returning WKV kernel, prefill + one step per token
// against the parallel forward in every scan mode, the decoding loop's stop rules, the sampler.
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "catch_compat.h"
#include "tiny_model.h"
#include "toy_model.h"
#include "wkv_inputs.h"
#include "infer/batch_decoder.h"
#include "infer/generate.h"
#include "infer/rerun_decoder.h"
#include "infer/recurrent.h"
#include "model/visual_rwkv.h"
#include "model/wkv6.h"
#include "model/wkv6_state.h"
#include "tensor_compare.h"

namespace {

using vrwkv::test::relative_error;

using vrwkv::test::ToyTokenizer;
using vrwkv::test::noisy_model;

using vrwkv::test::WkvInputs;
constexpr auto random_wkv = vrwkv::test::random_wkv_inputs;

// The state after every step of SPEC section 2, one step at a time in float64.
torch::Tensor reference_state(const WkvInputs& in) {
  const int64_t B = in.r.size(0), T = in.r.size(1), H = in.u.size(0), N = in.u.size(1);
  auto as4 = [&](const torch::Tensor& t) { return t.to(torch::kFloat64).view({B, T, H, N}); };
  auto k = as4(in.k), v = as4(in.v), w = as4(in.w);
  auto S = torch::zeros({B, H, N, N}, torch::kFloat64);
  for (int64_t t = 0; t < T; ++t)
    S = S * torch::exp(-torch::exp(w.select(1, t))).unsqueeze(-1) + k.select(1, t).unsqueeze(-1) * v.select(1, t).unsqueeze(-2);
  return S;
}

double tolerance(torch::ScalarType type) { return type == torch::kFloat64 ? 1e-10 : 1e-5; }

// Prefill on the first L positions, then one step per remaining position (by token id where
// by_token, else by embedding); every position's logits against the full forward.
void check_recurrent_matches_forward(vrwkv::VisualRWKV& model, const vrwkv::Embedded& e, vrwkv::ScanMode mode,
                                     int64_t L, bool by_token, torch::ScalarType type) {
  torch::NoGradGuard no_grad;
  const int64_t T = e.embeds.size(1);
  const auto full = model->forward_embeds(e.embeds, mode, e.layout.img_start, e.layout.img_end);
  torch::Tensor logits;
  auto state = vrwkv::prefill(model, e.embeds.narrow(1, 0, L), mode, e.layout.img_start, e.layout.img_end, &logits);
  CHECK(state.positions == L);
  CHECK(state.layers[0].wkv.scalar_type() == (type == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32));
  {
    INFO("prefill, last position " << L - 1);
    CHECK(relative_error(logits, full.select(1, L - 1)) <= tolerance(type));
  }
  for (int64_t t = L; t < T; ++t) {
    INFO("step at position " << t << (by_token ? " (token)" : " (embedding)"));
    const auto out = by_token ? vrwkv::step(model, state, e.layout.token_ids.select(1, t))
                              : vrwkv::step_embeds(model, state, e.embeds.select(1, t));
    CHECK(out.sizes() == torch::IntArrayRef({e.embeds.size(0), model->config.vocab_size}));
    CHECK(relative_error(out, full.select(1, t)) <= tolerance(type));
  }
  CHECK(state.positions == T);
}

torch::Tensor one_hot_logits(int64_t id, int64_t V) {
  auto l = torch::zeros({V}, torch::kFloat32);
  l[id] = 10.0;
  return l;
}

}  // namespace

TEST_CASE("wkv6 with state: the plain kernel's y, the state of the recurrence, chunks that continue", "[generate]") {
  for (auto type : {torch::kFloat64, torch::kFloat32}) {
    INFO("dtype " << type);
    const auto in = random_wkv(2, 37, 3, 8, type, 5);
    const auto plain = vrwkv::wkv6_forward_cpu(in.r, in.k, in.v, in.w, in.u);
    const auto [y, state] = vrwkv::wkv6_forward_with_state(in.r, in.k, in.v, in.w, in.u);
    CHECK(torch::equal(y, plain));  // the same kernel from zeros: bitwise
    CHECK(y.scalar_type() == type);
    CHECK(state.sizes() == torch::IntArrayRef({2, 3, 8, 8}));
    CHECK(state.scalar_type() == (type == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32));
    CHECK(relative_error(state, reference_state(in)) <= (type == torch::kFloat64 ? 1e-12 : 1e-5));

    // Two chunks, the second starting from the first's state, are the whole sequence.
    auto part = [&](int64_t from, int64_t len) {
      return WkvInputs{in.r.narrow(1, from, len), in.k.narrow(1, from, len), in.v.narrow(1, from, len),
                       in.w.narrow(1, from, len), in.u};
    };
    const auto a = part(0, 20), b = part(20, 17);
    const auto [y1, s1] = vrwkv::wkv6_forward_with_state(a.r, a.k, a.v, a.w, a.u);
    const auto s1_copy = s1.clone();
    const auto [y2, s2] = vrwkv::wkv6_forward_with_state(b.r, b.k, b.v, b.w, b.u, s1);
    CHECK(torch::equal(s1, s1_copy));  // the initial state is read, not written
    CHECK(relative_error(torch::cat({y1, y2}, 1), plain) <= (type == torch::kFloat64 ? 1e-13 : 1e-6));
    CHECK(relative_error(s2, state) <= (type == torch::kFloat64 ? 1e-13 : 1e-6));

    // The torch-ops paths taken off the CPU: one step at a time, and the closed-form final state.
    auto s = torch::zeros_like(state);
    std::vector<torch::Tensor> ys;
    for (int64_t t = 0; t < 37; ++t)
      ys.push_back(vrwkv::wkv6_step_ops(in.r.select(1, t), in.k.select(1, t), in.v.select(1, t), in.w.select(1, t),
                                        in.u, s));
    CHECK(relative_error(torch::stack(ys, 1), plain) <= (type == torch::kFloat64 ? 1e-12 : 1e-5));
    CHECK(relative_error(s, state) <= (type == torch::kFloat64 ? 1e-12 : 1e-5));
    CHECK(relative_error(vrwkv::wkv6_final_state_ops(in.k, in.v, in.w, 8), state) <=
          (type == torch::kFloat64 ? 1e-12 : 1e-5));
    // Several steps from a non-zero state with the operator plus the state's decayed share.
    auto s_ops = s1.clone();
    const auto y_ops = vrwkv::wkv6_from_state_ops(b.r, b.k, b.v, b.w, b.u, s_ops);
    CHECK(relative_error(y_ops, y2) <= (type == torch::kFloat64 ? 1e-12 : 1e-5));
    CHECK(relative_error(s_ops, s2) <= (type == torch::kFloat64 ? 1e-12 : 1e-5));
  }
  {
    // Strong decay (w in [0, 2]: each step keeps as little as exp(-e^2) = 6e-4 of the state), checked
    // element by element: nothing overflows, and the state's share vanishes as it should.
    auto in = random_wkv(2, 30, 2, 8, torch::kFloat64, 9);
    in.w = torch::rand_like(in.w) * 2.0;
    auto state0 = torch::randn({2, 2, 8, 8}, torch::kFloat64);
    const auto [y_ref, s_ref] = vrwkv::wkv6_forward_with_state(in.r, in.k, in.v, in.w, in.u, state0);
    auto s_ops = state0.clone();
    const auto y_ops = vrwkv::wkv6_from_state_ops(in.r, in.k, in.v, in.w, in.u, s_ops);
    CHECK(torch::allclose(y_ops, y_ref, 1e-10, 1e-12));
    CHECK(torch::allclose(s_ops, s_ref, 1e-10, 1e-12));
  }
  const auto bad = random_wkv(1, 3, 2, 4, torch::kFloat32, 1);
  CHECK_THROWS_AS(vrwkv::wkv6_forward_with_state(bad.r, bad.k, bad.v, bad.w, bad.u, torch::zeros({1, 2, 4, 3})),
                  vrwkv::Error);
}

TEST_CASE("prefill + recurrent steps give the full forward's logits in every scan mode", "[generate]") {
  const int64_t P = vrwkv::kImagePlaceholder, I = vrwkv::kIgnoreLabel;
  for (auto type : {torch::kFloat64, torch::kFloat32}) {
    auto model = noisy_model(type, 21);
    torch::NoGradGuard no_grad;
    const auto images = torch::randn({3, 3, 28, 28});
    // Two samples with the image at the same place: every position after it is a token.
    const auto ids_a = torch::tensor(std::vector<int64_t>{3, 9, P, 5, 7, 9, 2, 11, 4, 20, 1, 6,  //
                                                          1, 4, P, 6, 8, 12, 3, 3, 19, 2, 25, 7})
                           .view({2, 12});
    const auto e_a = model->embed(ids_a, torch::full({2, 12}, I, torch::kInt64),
                                  model->encode_images(images.narrow(0, 0, 2)), 0);
    // Images at different places, a text-only sample and end padding: stepped by embedding.
    const auto ids_b = torch::tensor(std::vector<int64_t>{3, P, 5, 7, 9, 2, 1, 4,  //
                                                          1, 4, 5, 6, P, 8, 1, 2,  //
                                                          8, 1, 2, 3, 4, 5, 6, 7})
                           .view({3, 8});
    const auto e_b = model->embed(ids_b, torch::full({3, 8}, I, torch::kInt64), model->encode_images(images), 0);
    REQUIRE(e_a.layout.img_end - e_a.layout.img_start == 4);
    for (auto mode : {vrwkv::ScanMode::kUni, vrwkv::ScanMode::kBi, vrwkv::ScanMode::kMulti}) {
      INFO("dtype " << type << ", scan mode " << vrwkv::to_string(mode));
      const int64_t T_a = e_a.embeds.size(1), T_b = e_b.embeds.size(1);
      // Right after the image's cls, and late in the text.
      check_recurrent_matches_forward(model, e_a, mode, e_a.layout.img_end + 1, /*by_token=*/true, type);
      check_recurrent_matches_forward(model, e_a, mode, T_a - 2, /*by_token=*/true, type);
      // Right after the span (its last position read in the block's order), then cls, text and padding.
      check_recurrent_matches_forward(model, e_b, mode, e_b.layout.img_end, /*by_token=*/false, type);
      check_recurrent_matches_forward(model, e_b, mode, T_b - 3, /*by_token=*/false, type);
    }
  }
}

TEST_CASE("recurrent state: zeros reads from position 0, clone branches, misuse throws", "[generate]") {
  auto model = noisy_model(torch::kFloat64, 3);
  torch::NoGradGuard no_grad;
  const auto ids = torch::tensor(std::vector<int64_t>{4, 9, 1, 17, 22, 5, 3, 8}).view({2, 4});
  const auto full = model->rwkv->forward(model->rwkv->emb(ids));
  auto state = vrwkv::RecurrentState::zeros(model, 2);
  torch::Tensor branch_logits;
  vrwkv::RecurrentState branch;
  for (int64_t t = 0; t < 4; ++t) {
    const auto logits = vrwkv::step(model, state, ids.select(1, t));
    CHECK(relative_error(logits, full.select(1, t)) <= 1e-10);
    if (t == 1) branch = state.clone();
  }
  // The branch taken after position 1 is unaffected by the steps after it.
  CHECK(relative_error(vrwkv::step(model, branch, ids.select(1, 2)), full.select(1, 2)) <= 1e-10);
  CHECK_THROWS_AS(vrwkv::step(model, state, torch::tensor(std::vector<int64_t>{1, 2, 3})), vrwkv::Error);
  CHECK_THROWS_AS(vrwkv::step(model, state, ids), vrwkv::Error);
  // multi needs a square span.
  const auto e = torch::zeros({1, 9, 16}, torch::kFloat64);
  CHECK_THROWS_AS(vrwkv::prefill(model, e, vrwkv::ScanMode::kMulti, 1, 4, nullptr), vrwkv::Error);
}

TEST_CASE("the stop sequence ends the answer; the decoding loop's other stops", "[generate]") {
  std::string answer;
  CHECK(vrwkv::cut_at_stop(" Yes.\n\nUser", &answer));
  CHECK(answer == "Yes.");
  CHECK(vrwkv::cut_at_stop("\n\n", &answer));
  CHECK(answer.empty());
  CHECK(vrwkv::cut_at_stop(" two\nlines \n\n\n", &answer));
  CHECK(answer == "two\nlines");
  CHECK_FALSE(vrwkv::cut_at_stop(" Yes.\n", &answer));

  ToyTokenizer tok;
  const int64_t V = tok.vocab_size();
  // A scripted model: the logits after each token pick the next character of the script.
  auto run = [&](const std::string& script, int64_t max_tokens, int* calls) {
    std::vector<int64_t> ids;
    for (char c : script) ids.push_back(c == '\0' ? 0 : tok.encode(std::string(1, c))[0]);
    size_t next = 1;
    *calls = 0;
    vrwkv::GenerateOptions o;
    o.max_new_tokens = max_tokens;
    return vrwkv::decode_tokens(
        one_hot_logits(ids[0], V),
        [&](int64_t) {
          ++*calls;
          return one_hot_logits(ids.at(next++), V);
        },
        tok, o);
  };
  int calls = 0;
  auto d = run(" yes.\n\nUser: more", 64, &calls);
  CHECK(d.answer == "yes.");
  CHECK(d.reason == vrwkv::StopReason::kStopSequence);
  CHECK(d.ids.size() == 7);  // " yes." and both newlines
  CHECK(calls == 6);         // nothing is read after the stop
  d = run(" yes and no", 4, &calls);
  CHECK(d.answer == "yes");
  CHECK(d.reason == vrwkv::StopReason::kMaxTokens);
  CHECK(calls == 3);
  d = run(std::string(" no") + '\0' + "yes", 64, &calls);
  CHECK(d.answer == "no");
  CHECK(d.reason == vrwkv::StopReason::kEndOfText);
  CHECK(d.ids.size() == 3);
}

TEST_CASE("decode_batch: rows leave the batch as they finish, each read on as it would be alone", "[generate]") {
  ToyTokenizer tok;
  const int64_t V = tok.vocab_size();
  // Three scripted rows: the first stops at "\n\n", the second at end of text, the third at max tokens.
  const std::vector<std::string> scripts = {" so.\n\nmore", std::string(" no") + '\0' + "tail", " a long answer"};
  std::vector<std::vector<int64_t>> ids;
  for (const auto& s : scripts) {
    ids.emplace_back();
    for (char c : s) ids.back().push_back(c == '\0' ? 0 : tok.encode(std::string(1, c))[0]);
  }
  std::vector<size_t> at(scripts.size(), 1);
  std::vector<int64_t> live = {0, 1, 2};  // the script of each current row
  std::vector<std::vector<int64_t>> kept_rows;
  vrwkv::GenerateOptions o;
  o.max_new_tokens = 8;
  auto first = torch::stack({one_hot_logits(ids[0][0], V), one_hot_logits(ids[1][0], V), one_hot_logits(ids[2][0], V)});
  const auto out = vrwkv::decode_batch(
      first, {0, 0, 0},
      [&](const std::vector<int64_t>& rows, const std::vector<int64_t>& next_ids, bool shrunk) {
        CHECK(shrunk == (rows.size() < live.size()));
        kept_rows.push_back(rows);
        std::vector<int64_t> now;
        std::vector<torch::Tensor> logits;
        for (size_t j = 0; j < rows.size(); ++j) {
          const int64_t script = live.at(rows[j]);
          CHECK(next_ids[j] == ids[script][at[script] - 1]);  // the token just picked for that row
          now.push_back(script);
          logits.push_back(one_hot_logits(ids[script].at(at[script]++), V));
        }
        live = now;
        return torch::stack(logits);
      },
      tok, o);
  REQUIRE(out.size() == 3);
  CHECK(out[0].answer == "so.");
  CHECK(out[0].reason == vrwkv::StopReason::kStopSequence);
  CHECK(out[1].answer == "no");
  CHECK(out[1].reason == vrwkv::StopReason::kEndOfText);
  CHECK(out[2].reason == vrwkv::StopReason::kMaxTokens);
  CHECK(out[2].ids.size() == 8);
  // " no" then token 0 ends row 1 at the 4th pick, " so.\n\n" ends row 0 at the 6th; row 2 reads on alone.
  REQUIRE(kept_rows.size() == 7);
  CHECK(kept_rows[2] == std::vector<int64_t>{0, 1, 2});
  CHECK(kept_rows[3] == std::vector<int64_t>{0, 2});
  CHECK(kept_rows[5] == std::vector<int64_t>{1});
  CHECK(kept_rows[6] == std::vector<int64_t>{0});
  CHECK_THROWS_WITH(vrwkv::decode_batch(first, {0}, nullptr, tok, o), vrwkv::test::contains("for 1 seeds"));
}

TEST_CASE("the prompt is a human turn as training renders it, then Assistant:", "[generate]") {
  ToyTokenizer tok;
  auto model = noisy_model(torch::kFloat32, 1);
  using vrwkv::text::PromptStyle;
  const std::string q = "what is this?";
  const std::pair<PromptStyle, std::string> cases[] = {
      {PromptStyle::kImageFirst, "User: <image>\nwhat is this?\n\nAssistant:"},
      {PromptStyle::kImageLast, "User: what is this?\n<image>\n\nAssistant:"},
      {PromptStyle::kSandwich, "User: what is this?\n<image>\nwhat is this?\n\nAssistant:"}};
  for (const auto& [style, expected] : cases) {
    vrwkv::Generator g(model, tok, vrwkv::ScanMode::kBi, style, 64);
    const auto p = g.prompt(q, true);
    CHECK(p.text == expected);
    CHECK(std::count(p.input_ids.begin(), p.input_ids.end(), vrwkv::kImagePlaceholder) == 1);
    const auto assistant = tok.encode("Assistant:");
    CHECK(std::equal(assistant.rbegin(), assistant.rend(), p.input_ids.rbegin()));
    CHECK(std::all_of(p.labels.begin(), p.labels.end(), [](int64_t l) { return l == vrwkv::kIgnoreLabel; }));
    // A question that already holds the placeholder renders the same.
    CHECK(g.prompt("<image>\n" + q, true).input_ids == p.input_ids);
    const auto text_only = g.prompt(q, false);
    CHECK(text_only.text == "User: what is this?\n\nAssistant:");
    CHECK(std::count(text_only.input_ids.begin(), text_only.input_ids.end(), vrwkv::kImagePlaceholder) == 0);
  }
  vrwkv::Generator short_ctx(model, tok, vrwkv::ScanMode::kBi, PromptStyle::kImageFirst, 10);
  CHECK_THROWS_AS(short_ctx.answer(q, torch::zeros({3, 28, 28}), {}), vrwkv::Error);
}

TEST_CASE("greedy generation: deterministic, the parallel model's arg-max, stops at \\n\\n", "[generate]") {
  ToyTokenizer tok;
  torch::manual_seed(2);
  const auto image = torch::randn({3, 28, 28});
  for (auto mode : {vrwkv::ScanMode::kUni, vrwkv::ScanMode::kBi, vrwkv::ScanMode::kMulti}) {
    INFO("scan mode " << vrwkv::to_string(mode));
    auto model = noisy_model(torch::kFloat64, 8);
    vrwkv::Generator g(model, tok, mode, vrwkv::text::PromptStyle::kSandwich, 256);
    vrwkv::GenerateOptions o;
    o.max_new_tokens = 12;
    const auto first = g.generate("what is this?", image, o);
    const auto again = g.generate("what is this?", image, o);
    CHECK(first.ids == again.ids);
    CHECK(first.answer == again.answer);
    CHECK(g.answer("what is this?", image, o) == first.answer);
    CHECK(first.ids.size() <= 12);

    // Every generated token is the arg-max of the full forward over the prompt and the answer so far.
    torch::NoGradGuard no_grad;
    auto ids = g.prompt("what is this?", true).input_ids;
    const int64_t prompt_tokens = static_cast<int64_t>(ids.size());
    ids.insert(ids.end(), first.ids.begin(), first.ids.end());
    const int64_t n = static_cast<int64_t>(ids.size());
    const auto e = model->embed(torch::tensor(ids).view({1, n}), torch::full({1, n}, vrwkv::kIgnoreLabel, torch::kInt64),
                                model->encode_images(image.unsqueeze(0)), 0);
    const auto full = model->forward_embeds(e.embeds, mode, e.layout.img_start, e.layout.img_end);
    const int64_t last_prompt = e.embeds.size(1) - 1 - (n - prompt_tokens);
    for (size_t j = 0; j < first.ids.size(); ++j)
      CHECK(full[0][last_prompt + int64_t(j)].argmax().item<int64_t>() == first.ids[j]);
    if (first.reason == vrwkv::StopReason::kEndOfText)
      CHECK(full[0][last_prompt + int64_t(first.ids.size())].argmax().item<int64_t>() == 0);
  }

  // A model rigged to always say "\n": the answer stops after two tokens, empty.
  auto model = noisy_model(torch::kFloat32, 4);
  {
    torch::NoGradGuard no_grad;
    model->rwkv->ln_out->weight.zero_();
    model->rwkv->ln_out->bias.fill_(1.0);
    model->rwkv->head->weight.zero_();
    model->rwkv->head->weight[tok.encode("\n")[0]].fill_(1.0);
  }
  vrwkv::Generator g(model, tok, vrwkv::ScanMode::kBi, vrwkv::text::PromptStyle::kImageFirst, 0);
  const auto d = g.generate("what is this?", image, {});
  CHECK(d.reason == vrwkv::StopReason::kStopSequence);
  CHECK(d.ids.size() == 2);
  CHECK(d.answer.empty());
  // Text-only questions read K zero vectors where the image would be.
  CHECK(g.generate("what is this?", torch::Tensor(), {}).reason == vrwkv::StopReason::kStopSequence);
}

TEST_CASE("top-p sampling: reproducible for a seed, only the nucleus is drawn", "[generate]") {
  const auto logits = torch::log(torch::tensor(std::vector<double>{0.15, 0.5, 0.05, 0.3}));
  auto draws = [&](uint64_t seed, double top_p, int n) {
    vrwkv::TokenSampler s(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < n; ++i) out.push_back(s.next(logits, 1.0, top_p));
    return out;
  };
  CHECK(draws(7, 0.9, 200) == draws(7, 0.9, 200));
  CHECK(draws(7, 0.9, 200) != draws(8, 0.9, 200));
  // top_p 0.7: the nucleus is {1 (0.5), 3 (0.3)}, renormalised to 0.625 / 0.375.
  const auto d = draws(3, 0.7, 4000);
  CHECK(std::set<int64_t>(d.begin(), d.end()) == std::set<int64_t>{1, 3});
  const double share = double(std::count(d.begin(), d.end(), 1)) / d.size();
  CHECK(share > 0.59);
  CHECK(share < 0.66);
  const auto all = draws(3, 1.0, 4000);
  CHECK(std::set<int64_t>(all.begin(), all.end()) == std::set<int64_t>{0, 1, 2, 3});
  // A tiny nucleus, or temperature 0, is the arg-max.
  const auto tiny = draws(3, 1e-6, 50);
  CHECK(std::all_of(tiny.begin(), tiny.end(), [](int64_t id) { return id == 1; }));
  vrwkv::TokenSampler greedy(0);
  CHECK(greedy.next(logits, 0.0, 0.5) == 1);

  // Whole answers: the same seed gives the same answer; seeds give different ones.
  ToyTokenizer tok;
  auto model = noisy_model(torch::kFloat32, 12);
  vrwkv::Generator g(model, tok, vrwkv::ScanMode::kMulti, vrwkv::text::PromptStyle::kImageFirst, 0);
  torch::manual_seed(1);
  const auto image = torch::randn({3, 28, 28});
  vrwkv::GenerateOptions o;
  o.temperature = 1.0;
  o.top_p = 0.9;
  o.max_new_tokens = 16;
  std::set<std::vector<int64_t>> distinct;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    o.seed = seed;
    const auto a = g.generate("what is this?", image, o);
    CHECK(g.generate("what is this?", image, o).ids == a.ids);
    distinct.insert(a.ids);
  }
  CHECK(distinct.size() > 1);
}

namespace {

// Questions of different lengths, with and without a picture, for the batched decoder.
std::vector<vrwkv::DecodeRequest> mixed_requests(int n, uint64_t seed) {
  torch::manual_seed(seed);
  const std::vector<std::string> words = {"what", "is", "the", "colour", "shade", "this", "here"};
  std::vector<vrwkv::DecodeRequest> out;
  for (int i = 0; i < n; ++i) {
    std::string q;
    for (int w = 0; w < 2 + i % 5; ++w) q += (w ? " " : "") + words[(i + w) % words.size()];
    q += "?";
    // Every fourth question is text only; a "<image>" written in the question is placed by the style.
    const auto image = i % 4 == 3 ? torch::Tensor() : torch::randn({3, 28, 28});
    if (i % 5 == 1) q = "<image>\n" + q;
    out.push_back({q, image, static_cast<uint64_t>(100 + i)});
  }
  return out;
}

std::vector<vrwkv::DecodeResult> run_in_batches(vrwkv::BatchDecoder& decoder,
                                                const std::vector<vrwkv::DecodeRequest>& requests, size_t batch,
                                                const vrwkv::GenerateOptions& o) {
  std::vector<vrwkv::DecodeResult> out;
  for (size_t first = 0; first < requests.size(); first += batch) {
    const std::vector<vrwkv::DecodeRequest> chunk(requests.begin() + first,
                                                  requests.begin() + std::min(requests.size(), first + batch));
    for (auto& r : decoder.run(chunk, o)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST_CASE("batched decoding: the same answers at batch 1 and batch 16, and the re-run decoder's tokens",
          "[generate]") {
  ToyTokenizer tok;
  const auto requests = mixed_requests(16, 5);
  for (auto style : {vrwkv::text::PromptStyle::kImageFirst, vrwkv::text::PromptStyle::kImageLast,
                     vrwkv::text::PromptStyle::kSandwich}) {
    for (auto mode : {vrwkv::ScanMode::kUni, vrwkv::ScanMode::kBi, vrwkv::ScanMode::kMulti}) {
      INFO("prompt style " << vrwkv::text::to_string(style) << ", scan mode " << vrwkv::to_string(mode));
      auto model = noisy_model(torch::kFloat32, 21);
      vrwkv::BatchDecoder decoder(model, tok, mode, style, 0);
      vrwkv::GenerateOptions o;
      o.max_new_tokens = 10;
      const auto one = run_in_batches(decoder, requests, 1, o);
      const auto sixteen = run_in_batches(decoder, requests, 16, o);
      const auto fives = run_in_batches(decoder, requests, 5, o);
      REQUIRE(one.size() == requests.size());
      std::set<vrwkv::StopReason> reasons;
      for (size_t i = 0; i < requests.size(); ++i) {
        INFO("question " << i << ": " << requests[i].question);
        CHECK(one[i].decoded.ids == sixteen[i].decoded.ids);
        CHECK(one[i].decoded.ids == fives[i].decoded.ids);
        CHECK(one[i].decoded.answer == sixteen[i].decoded.answer);
        CHECK(one[i].prompt == sixteen[i].prompt);
        CHECK(std::abs(one[i].decoded.avg_logit - sixteen[i].decoded.avg_logit) <= 1e-4);
        reasons.insert(one[i].decoded.reason);
        // The prompt is the rendered text the original writes into `prompt`.
        const bool with_image = requests[i].image.defined();
        CHECK(one[i].prompt == vrwkv::render_prompt(requests[i].question, with_image, style, tok).text);
        CHECK((one[i].prompt.find("<image>") != std::string::npos) == with_image);
      }
      // The original's method (the whole sequence again per token) picks the same tokens.
      if (style == vrwkv::text::PromptStyle::kSandwich) {
        for (size_t i = 0; i < 4; ++i) {
          const auto d = vrwkv::decode_by_rerun(model, tok, mode, style, requests[i].question, requests[i].image, o);
          CHECK(d.ids == one[i].decoded.ids);
          CHECK(d.answer == one[i].decoded.answer);
          CHECK(std::abs(d.avg_prob - one[i].decoded.avg_prob) <= 1e-4);
        }
      }
    }
  }
}

TEST_CASE("batched decoding: rows finish on their own; sampled answers follow their own seed", "[generate]") {
  ToyTokenizer tok;
  auto model = noisy_model(torch::kFloat32, 31);
  vrwkv::BatchDecoder decoder(model, tok, vrwkv::ScanMode::kBi, vrwkv::text::PromptStyle::kSandwich, 0);
  auto requests = mixed_requests(9, 6);
  vrwkv::GenerateOptions o;
  o.max_new_tokens = 12;
  o.temperature = 1.0;
  o.top_p = 0.95;
  const auto together = decoder.run(requests, o);
  std::set<size_t> lengths;
  for (size_t i = 0; i < requests.size(); ++i) {
    INFO("question " << i);
    const auto alone = decoder.run({requests[i]}, o);
    CHECK(alone[0].decoded.ids == together[i].decoded.ids);
    lengths.insert(together[i].decoded.ids.size());
    CHECK(together[i].decoded.chosen >= 1);
    CHECK(together[i].decoded.avg_prob > 0);
    CHECK(together[i].decoded.avg_prob <= 1);
  }
  // Answers of different lengths were decoded together, so rows did leave the batch early.
  CHECK(lengths.size() > 1);
  // Another seed changes a sampled answer.
  bool changed = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto r = requests[i];
    r.seed += 1000;
    changed = changed || decoder.run({r}, o)[0].decoded.ids != together[i].decoded.ids;
  }
  CHECK(changed);

  // ignore_stops decodes exactly max_new_tokens; without it a rigged model stops at "\n\n".
  o.temperature = 0;
  o.ignore_stops = true;
  for (const auto& r : decoder.run(requests, o)) CHECK(r.decoded.chosen == 12);
  {
    torch::NoGradGuard no_grad;
    model->rwkv->ln_out->weight.zero_();
    model->rwkv->ln_out->bias.fill_(1.0);
    model->rwkv->head->weight.zero_();
    model->rwkv->head->weight[tok.encode("\n")[0]].fill_(1.0);
  }
  o.ignore_stops = false;
  for (const auto& r : decoder.run(requests, o)) {
    CHECK(r.decoded.reason == vrwkv::StopReason::kStopSequence);
    CHECK(r.decoded.ids.size() == 2);
    CHECK(r.decoded.answer.empty());
  }
  CHECK(decoder.run({}, o).empty());
}
