// Decoding speed of `visualrwkv eval`: answers/s and generated tokens/s of the batched recurrent
// decoder (infer/batch_decoder.h) at several batch sizes, against the original evaluator's method
// (the whole sequence read again for every new token, batch 1; infer/rerun_decoder.h), in one run
// with random weights (or a trained checkpoint's) and synthetic pictures. Every answer is forced
// to --new-tokens tokens (stops ignored) so both methods do the same work; greedy tokens of the
// two are compared too.
//
//   bench_eval [--model configs/demo/stage2.json] [--new-tokens 128] [--questions 64] [--batches 1,32]
//              [--rerun-questions 4] [--device cpu|cuda] [--precision fp32|bf16] [--threads N]
// --model takes a run config (its "model", scan mode and prompt style), a model config, or a
// checkpoint folder / a run's output_dir (loaded as `eval` loads it, train/trained_model.h); a v7
// one ("family": "v7") times VisualRWKV-7's recurrent decoding against the original's re-run.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/batch_decoder.h"
#include "infer/generate7.h"
#include "infer/rerun_decoder.h"
#include "model/visual_rwkv.h"
#include "text/conversation.h"
#include "train/trained_model.h"

namespace {

using namespace vrwkv;
using Clock = std::chrono::steady_clock;

// Any id decodes to one letter and any text encodes, so a random model's answers never stop the
// loop early and the tokenizer costs next to nothing in either method.
class BenchTokenizer : public text::Tokenizer {
 public:
  explicit BenchTokenizer(int64_t vocab) : vocab_(vocab) {}
  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for (unsigned char c : text) ids.push_back(1 + c % (vocab_ - 1));
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string s;
    for (int64_t id : ids) s += static_cast<char>('a' + id % 26);
    return s;
  }
  int64_t vocab_size() const override { return vocab_; }

 private:
  int64_t vocab_;
};

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

struct Figures {
  double answers_per_s = 0, tokens_per_s = 0;
};

// VisualRWKV-7: the original's re-run per token against recurrent decoding (Decoder7, which `eval`
// runs) at each batch size, each question with its own picture for the three towers.
int bench_v7(VisualRWKV7 model, const std::string& model_path, const torch::Device& device,
             const std::string& precision, int64_t new_tokens, int64_t questions, int64_t rerun_questions,
             const std::vector<int64_t>& batches) {
  const auto& c = model->config;
  BenchTokenizer tokenizer(c.rwkv.vocab_size);
  std::vector<std::pair<std::string, TowerPixels>> requests;
  for (int64_t q = 0; q < questions; ++q) {
    std::string text = "What colour is the shape";
    for (int64_t w = 0; w < q % 7; ++w) text += " in the corner";
    auto pixels = [](int64_t S) { return torch::randn({1, 3, S, S}); };
    requests.push_back({text + "?", {pixels(c.towers.dino.image_size), pixels(c.towers.siglip.image_size),
                                     pixels(c.towers.sam.image_size)}});
  }
  GenerateOptions options;
  options.max_new_tokens = new_tokens;
  options.ignore_stops = true;
  std::printf("bench_eval: %s (VisualRWKV-7), %lld layers, n_embd %lld, K %lld, %s %s, %lld new tokens\n",
              model_path.c_str(), static_cast<long long>(c.rwkv.n_layer), static_cast<long long>(c.rwkv.n_embd),
              static_cast<long long>(c.tokens_per_image), device.str().c_str(), precision.c_str(),
              static_cast<long long>(new_tokens));
  auto timed = [&](int64_t n, const std::function<Decoded(int64_t)>& answer, std::vector<std::vector<int64_t>>* ids) {
    sync(device);
    const auto t0 = Clock::now();
    int64_t tokens = 0;
    for (int64_t q = 0; q < n; ++q) {
      const auto d = answer(q);
      tokens += d.chosen;
      if (ids) ids->push_back(d.ids);
    }
    sync(device);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    return Figures{n / s, tokens / s};
  };
  const int64_t R = std::min(rerun_questions, questions);
  std::vector<std::vector<int64_t>> rerun_ids;
  const auto rerun = timed(
      R, [&](int64_t q) { return decode_by_rerun7(model, tokenizer, requests[q].first, requests[q].second, options); },
      &rerun_ids);
  Decoder7 decoder(model, tokenizer, 0);
  std::printf("%-26s %10s %12s %14s %10s\n", "method", "questions", "answers/s", "new tokens/s", "vs rerun");
  std::printf("%-26s %10lld %12.3f %14.1f %10s\n", "rerun per token, batch 1", static_cast<long long>(R),
              rerun.answers_per_s, rerun.tokens_per_s, "1.00x");
  nlohmann::ordered_json out = {
      {"rerun", {{"answers_per_s", rerun.answers_per_s}, {"tokens_per_s", rerun.tokens_per_s}}}};
  std::vector<std::vector<int64_t>> first_ids;  // the first batch size's answers
  for (const int64_t batch : batches) {
    std::vector<std::vector<int64_t>> ids;
    sync(device);
    const auto t0 = Clock::now();
    int64_t tokens = 0;
    for (int64_t from = 0; from < questions; from += batch) {
      std::vector<DecodeRequest> chunk;
      for (int64_t q = from; q < std::min(questions, from + batch); ++q)
        chunk.push_back({requests[q].first, torch::Tensor(), 0, requests[q].second});
      for (const auto& r : decoder.run(chunk, options)) {
        tokens += r.decoded.chosen;
        ids.push_back(r.decoded.ids);
      }
    }
    sync(device);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Figures f{questions / s, tokens / s};
    if (first_ids.empty()) first_ids = ids;
    int64_t same = 0, same_first = 0;
    for (int64_t q = 0; q < R; ++q) same += rerun_ids[q] == ids[q];
    for (int64_t q = 0; q < questions; ++q) same_first += first_ids[q] == ids[q];
    const std::string name = "recurrent, batch " + std::to_string(batch);
    // The re-run pads each longer sequence anew (SPEC-v7 section 9), so its tokens may differ.
    std::printf("%-26s %10lld %12.3f %14.1f %9.2fx   (greedy tokens equal to rerun's: %lld of %lld; to batch %lld's: "
                "%lld of %lld)\n",
                name.c_str(), static_cast<long long>(questions), f.answers_per_s, f.tokens_per_s,
                f.answers_per_s / rerun.answers_per_s, static_cast<long long>(same), static_cast<long long>(R),
                static_cast<long long>(batches.front()), static_cast<long long>(same_first),
                static_cast<long long>(questions));
    out["recurrent_batch_" + std::to_string(batch)] = {{"answers_per_s", f.answers_per_s},
                                                        {"tokens_per_s", f.tokens_per_s},
                                                        {"speedup_vs_rerun", f.answers_per_s / rerun.answers_per_s},
                                                        {"greedy_equal_to_rerun", same},
                                                        {"greedy_equal_to_first_batch", same_first}};
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "configs/demo/stage2.json", device_name = "cpu", precision;
  int64_t new_tokens = 128, questions = 64, rerun_questions = 4;
  std::vector<int64_t> batches{1, 32};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(cat(a, " needs a value"));
      return argv[++i];
    };
    if (a == "--model") model_path = value();
    else if (a == "--new-tokens") new_tokens = std::stoll(value());
    else if (a == "--questions") questions = std::stoll(value());
    else if (a == "--batches") batches = parse_list(value());
    else if (a == "--rerun-questions") rerun_questions = std::stoll(value());
    else if (a == "--device") device_name = value();
    else if (a == "--precision") precision = value();
    else if (a == "--threads") torch::set_num_threads(std::stoi(value()));
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const torch::Device device(device_name);
  if (precision.empty()) precision = device.is_cuda() ? "bf16" : "fp32";
  VisualRWKV model{nullptr};
  ModelConfig mc;
  ScanMode mode = ScanMode::kBi;
  auto style = text::PromptStyle::kSandwich;
  torch::manual_seed(0);  // the random weights and the pictures
  if (std::filesystem::is_directory(model_path)) {
    // A trained checkpoint: its weights, shape, scan mode and prompt style, on the device asked for.
    auto trained = train::load_trained_model(
        model_path, {"train.device=" + std::string(device.is_cuda() ? "cuda" : "cpu"), "train.precision=" + precision}, 0);
    if (trained.config.family == ModelFamily::kV7)
      return bench_v7(trained.model7, model_path, device, precision, new_tokens, questions, rerun_questions, batches);
    model = trained.model;
    mc = trained.config.model;
    mode = trained.config.scan_mode;
    style = trained.config.data.prompt_style;
  } else {
    std::ifstream in(model_path);
    if (!in.good()) {
      std::fprintf(stderr, "%s: cannot open\n", model_path.c_str());
      return 1;
    }
    const auto j = nlohmann::json::parse(in);
    const bool run_config = j.contains("model") && j["model"].is_object();
    const auto& shape = run_config ? j["model"] : j;
    if (shape.value("family", std::string("v6")) == "v7") {
      VisualRWKV7 model7(visual_rwkv7_config_from_json(shape, model_path));
      train::prepare_for_inference(*model7, device, config::value_named(precision_names(), precision, "--precision"));
      return bench_v7(model7, model_path, device, precision, new_tokens, questions, rerun_questions, batches);
    }
    auto model_only = run_config ? j["model"] : j;
    model_only.erase("scan_mode");  // a run setting that run configs keep beside the model's shape
    mc = model_config_from_json(model_only, model_path);
    const auto& model_json = run_config ? j["model"] : j;
    mode = scan_mode_from_string(model_json.value("scan_mode", std::string("bi")));
    if (run_config && j.contains("data") && j["data"].contains("prompt_style"))
      style = text::prompt_style_from_string(j["data"]["prompt_style"].get<std::string>());
    model = VisualRWKV(mc);
    train::prepare_for_inference(*model, device, config::value_named(precision_names(), precision, "--precision"));
  }
  BenchTokenizer tokenizer(mc.vocab_size);

  // Questions of varied length, each with its own picture.
  const int64_t S = mc.vision.image_size;
  std::vector<DecodeRequest> requests;
  for (int64_t q = 0; q < questions; ++q) {
    std::string text = "What colour is the shape";
    for (int64_t w = 0; w < q % 7; ++w) text += " in the corner";
    text += "?\nAnswer the question using a single word or phrase.";
    requests.push_back({text, torch::randn({3, S, S}), static_cast<uint64_t>(q)});
  }
  GenerateOptions options;
  options.max_new_tokens = new_tokens;
  options.ignore_stops = true;

  std::printf("bench_eval: %s, %lld layers, n_embd %lld, %lld image tokens, %s scan, %s prompts, %s %s, %lld new tokens\n",
              model_path.c_str(), static_cast<long long>(mc.n_layer), static_cast<long long>(mc.n_embd),
              static_cast<long long>(mc.image_tokens()), to_string(mode).c_str(), text::to_string(style).c_str(),
              device.str().c_str(), precision.c_str(), static_cast<long long>(new_tokens));

  // The original's method, batch 1, on the first questions.
  const int64_t R = std::min(rerun_questions, questions);
  std::vector<std::vector<int64_t>> rerun_ids;
  Figures rerun;
  {
    sync(device);
    const auto t0 = Clock::now();
    int64_t tokens = 0;
    for (int64_t q = 0; q < R; ++q) {
      const auto d = decode_by_rerun(model, tokenizer, mode, style, requests[q].question, requests[q].image, options);
      tokens += d.chosen;
      rerun_ids.push_back(d.ids);
    }
    sync(device);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    rerun = {R / s, tokens / s};
  }
  std::printf("%-26s %10s %12s %14s %10s\n", "method", "questions", "answers/s", "new tokens/s", "vs rerun");
  std::printf("%-26s %10lld %12.3f %14.1f %10s\n", "rerun per token, batch 1", static_cast<long long>(R),
              rerun.answers_per_s, rerun.tokens_per_s, "1.00x");

  BatchDecoder decoder(model, tokenizer, mode, style, 0);
  nlohmann::ordered_json out = {{"rerun", {{"answers_per_s", rerun.answers_per_s}, {"tokens_per_s", rerun.tokens_per_s}}}};
  for (int64_t b : batches) {
    sync(device);
    const auto t0 = Clock::now();
    int64_t tokens = 0, same = 0;
    for (int64_t first = 0; first < questions; first += b) {
      const std::vector<DecodeRequest> chunk(requests.begin() + first,
                                             requests.begin() + std::min(questions, first + b));
      const auto results = decoder.run(chunk, options);
      for (size_t k = 0; k < results.size(); ++k) {
        tokens += results[k].decoded.chosen;
        const int64_t q = first + static_cast<int64_t>(k);
        if (q < R && results[k].decoded.ids == rerun_ids[q]) ++same;
      }
    }
    sync(device);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Figures f{questions / s, tokens / s};
    const std::string name = cat("recurrent, batch ", b);
    std::printf("%-26s %10lld %12.3f %14.1f %9.2fx   (greedy tokens equal to rerun's: %lld of %lld)\n", name.c_str(),
                static_cast<long long>(questions), f.answers_per_s, f.tokens_per_s,
                f.answers_per_s / rerun.answers_per_s, static_cast<long long>(same), static_cast<long long>(R));
    out[cat("batch_", b)] = {{"answers_per_s", f.answers_per_s},
                             {"tokens_per_s", f.tokens_per_s},
                             {"speedup_vs_rerun", f.answers_per_s / rerun.answers_per_s},
                             {"greedy_equal_to_rerun", same}};
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
