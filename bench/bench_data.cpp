// Data benchmark: generates (once) a LLaVA-v1.5-665K-shaped JSON file, then prints the index's load
// time and peak memory, and the loader's batches and samples per second with its worker threads.
//
//   bench_data [--file PATH] [--samples N] [--vocab FILE] [--images DIR] [--workers W] [--batch B]
// Defaults: 665,298 samples (~1 GB) in /tmp/vrwkv_bench_mix665k.json, the shared World vocabulary
// and photos (each generated sample names one of them, so the loader decodes real JPEG/PNG files).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "batch_loader.h"
#include "config/run_config.h"
#include "image_source.h"
#include "llava_dataset.h"
#include "text/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

std::string words(std::mt19937_64& rng, int n) {
  static const char* vocab[] = {"the", "a", "bus", "red", "what", "is", "in", "image", "color", "of", "man", "woman",
                                "dog", "two", "people", "standing", "near", "street", "table", "pizza", "how", "many",
                                "are", "there", "visible", "left", "right", "this", "photo", "shows", "wearing", "shirt",
                                "blue", "green", "white", "sign", "building", "sky", "tree", "car"};
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + std::string(vocab[rng() % (sizeof(vocab) / sizeof(*vocab))]);
  return s;
}

// One sample shaped like the 665K mix: 1 to 12 rounds, VQA-style short answers or long
// descriptions, 6% text-only, ids as strings or numbers, a few empty replies.
void generate(const std::string& path, int64_t samples, const std::vector<std::string>& images) {
  std::mt19937_64 rng(1234);
  std::ofstream out(path + ".tmp", std::ios::binary);
  out << "[\n";
  for (int64_t i = 0; i < samples; ++i) {
    nlohmann::json s;
    if (rng() % 3 == 0) s["id"] = int64_t(rng() % 100000000);
    else s["id"] = "sample_" + std::to_string(i);
    const bool text_only = rng() % 100 < 6;
    if (!text_only) s["image"] = images[rng() % images.size()];
    auto conv = nlohmann::json::array();
    const int rounds = 1 + rng() % 12;
    for (int r = 0; r < rounds; ++r) {
      std::string q = words(rng, 4 + rng() % 12) + "?";
      if (r == 0 && !text_only) q = rng() % 2 ? "<image>\n" + q : q + "\n<image>";
      if (rng() % 2) q += "\nAnswer the question using a single word or phrase.";
      const bool long_answer = rng() % 5 == 0;
      std::string a = rng() % 200 == 0 ? "" : words(rng, long_answer ? 40 + rng() % 100 : 1 + rng() % 3) + ".";
      conv.push_back({{"from", "human"}, {"value", q}});
      conv.push_back({{"from", "gpt"}, {"value", a}});
    }
    s["conversations"] = conv;
    out << s.dump(2) << (i + 1 < samples ? ",\n" : "\n");
  }
  out << "]\n";
  out.close();
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vrwkv;
  std::string file = "/tmp/vrwkv_bench_mix665k.json", vocab = "../shared/data/rwkv_vocab_v20230424.txt",
              images = "../shared/data/images";
  int64_t samples = 665298, workers = 2, batch = 8, batches = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--file") file = v;
    else if (k == "--samples") samples = std::stoll(v);
    else if (k == "--vocab") vocab = v;
    else if (k == "--images") images = v;
    else if (k == "--workers") workers = std::stoll(v);
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--batches") batches = std::stoll(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(images)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  if (!std::filesystem::exists(file)) {
    const auto t0 = Clock::now();
    generate(file, samples, names);
    std::printf("generated %s (%lld samples, %.0f MB) in %.1f s\n", file.c_str(), static_cast<long long>(samples),
                std::filesystem::file_size(file) / 1e6, seconds_since(t0));
  }
  const double rss_before = peak_rss_mb();
  auto t0 = Clock::now();
  const data::LlavaDataset dataset(file);
  std::printf("index: %zu samples from %.0f MB in %.2f s, peak RSS %.0f MB (%.0f MB before loading)\n", dataset.size(),
              std::filesystem::file_size(file) / 1e6, seconds_since(t0), peak_rss_mb(), rss_before);

  nlohmann::json cfg = {{"tokenizer", {{"path", vocab}}},
                        {"data", {{"file", file}, {"image_folder", images}, {"prompt_style", "sandwich"},
                                  {"ctx_len", 2048}}}};
  const auto config = run_config_from_json(cfg, "bench");
  const auto tokenizer = text::make_tokenizer("world", vocab);
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, config.model.image_tokens(),
                                    data::make_image_loader(config.data.image));
  data::SkipStats skips(1.0);
  data::LoaderOptions opt{workers, 2 * workers};
  data::BatchLoader loader(data::v6_batches(builder, config.data.image.size), data::GlobalOrder(dataset.size(), 0),
                           data::StepLayout{batch, 1, 0, 1}, 0, opt, skips);
  loader.next();  // warm up
  t0 = Clock::now();
  int64_t n_samples = 0, tokens = 0;
  for (int64_t b = 0; b < batches; ++b) {
    const auto batch_out = loader.next();
    n_samples += batch_out.ids.size();
    tokens += batch_out.input_ids.numel();
  }
  const double s = seconds_since(t0);
  std::printf("loader: %lld batches of %lld with %lld workers: %.1f batches/s, %.1f samples/s (%.1f per worker), "
              "%.0f padded tokens/s; %lld skipped\n",
              static_cast<long long>(batches), static_cast<long long>(batch), static_cast<long long>(workers),
              batches / s, n_samples / s, n_samples / s / workers, tokens / s, static_cast<long long>(skips.skipped()));
  return 0;
}
