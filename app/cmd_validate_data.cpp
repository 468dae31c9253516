// visualrwkv validate-data CONFIG [--set k=v] [--decode-images]: scans the whole dataset up front
// and prints bad samples per reason, token length percentiles per prompt style (v7: its one layout)
// and how many samples exceed ctx_len, using every core.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "image_source.h"
#include "llava_dataset.h"
#include "sample_builder.h"
#include "sample_builder7.h"
#include "tower_image_source7.h"
#include "text/tokenizer.h"

namespace {

using namespace vrwkv;

struct StyleLengths {
  std::vector<int64_t> lengths;  // assembled positions: text tokens + K image embeddings - placeholder
  int64_t over_ctx = 0;
  void add(int64_t positions, int64_t ctx_len) {
    lengths.push_back(positions);
    over_ctx += positions > ctx_len;
  }
};

int64_t percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

void print_lengths_header(const char* what) {
  std::printf("  %-12s %8s %8s %8s %8s %8s %12s\n", what, "p50", "p90", "p99", "max", "samples", "> ctx_len");
}

void print_lengths_row(const std::string& label, StyleLengths& s, const char* note) {
  const int64_t max = s.lengths.empty() ? 0 : *std::max_element(s.lengths.begin(), s.lengths.end());
  std::printf("  %-12s %8lld %8lld %8lld %8lld %8zu %12lld%s\n", label.c_str(),
              static_cast<long long>(percentile(s.lengths, 0.5)), static_cast<long long>(percentile(s.lengths, 0.9)),
              static_cast<long long>(percentile(s.lengths, 0.99)), static_cast<long long>(max), s.lengths.size(),
              static_cast<long long>(s.over_ctx), note);
}

// Runs `scan(i)` over every index on `threads` threads; each call may throw text::SampleError,
// counted by reason.
std::map<std::string, int64_t> scan_all(size_t n, int threads, const std::function<void(size_t)>& scan) {
  std::mutex mu;
  std::map<std::string, int64_t> bad;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::map<std::string, int64_t> mine;
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        scan(i);
      } catch (const text::SampleError& e) {
        ++mine[e.reason()];
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [r, k] : mine) bad[r] += k;
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return bad;
}

void print_bad(const data::LlavaDataset& dataset, const std::map<std::string, int64_t>& bad) {
  int64_t total_bad = 0;
  for (const auto& [r, n] : bad) total_bad += n;
  std::printf("dataset      %s\nsamples      %zu\nbad samples  %lld (%.3f%%)\n", dataset.path().c_str(), dataset.size(),
              static_cast<long long>(total_bad), dataset.size() ? 100.0 * total_bad / dataset.size() : 0.0);
  for (const auto& [r, n] : bad) std::printf("  %-28s %lld\n", r.c_str(), static_cast<long long>(n));
}

// v7 (SPEC-v7 section 7): one layout, K ids per image, the first ctx_len ids kept. A sample is bad
// for the reasons training skips it (SampleBuilder7::build), its images' files included.
int validate_v7(const RunConfig& config, const data::LlavaDataset& dataset, const text::Tokenizer& tokenizer,
                bool decode, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& m = config.model7;
  data::TowerImageLoader loader = decode ? data::make_tower_image_loader7(config.data.image, data::tower_transforms7(m.towers))
                                         : data::TowerImageLoader([](const std::string& path) {
                                             if (!std::filesystem::is_regular_file(path))
                                               throw text::SampleError("missing_image", "image not found: " + path);
                                             return TowerPixels{};
                                           });
  const data::SampleBuilder7 builder(dataset, tokenizer, config.data, {m.tokens_per_image, config.data.ctx_len}, loader);
  std::mutex mu;
  StyleLengths lengths;
  const auto bad = scan_all(dataset.size(), threads, [&](size_t i) {
    const auto conversation = builder.conversation(i);
    // The whole sample's length (ctx_len 0: nothing cut, nothing padded), before build's checks.
    const auto whole = text::render_conversation_v7(conversation, int64_t(conversation.images.size()),
                                                    {m.tokens_per_image, 0}, tokenizer);
    {
      std::lock_guard<std::mutex> lock(mu);
      lengths.add(int64_t(whole.input_ids.size()), config.data.ctx_len);
    }
    builder.build(i);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  print_bad(dataset, bad);
  std::printf("\nsequence positions (v7: images first, %lld ids per image), ctx_len %lld (the first ctx_len are kept):\n",
              static_cast<long long>(m.tokens_per_image), static_cast<long long>(config.data.ctx_len));
  print_lengths_header("layout");
  print_lengths_row("v7", lengths, "");
  std::printf("\nscanned in %.1f s with %d threads\n", seconds, threads);
  return 0;
}

}  // namespace

int cmd_validate_data(const std::vector<std::string>& argv) {
  const char* usage = "visualrwkv validate-data CONFIG [--set key=value]... [--decode-images] [--threads N]";
  const auto args = cli::parse_args(argv, {"threads"}, {"decode-images"}, usage);
  VRWKV_CHECK(args.positional.size() == 1, "usage: ", usage);
  const auto config = load_run_config(args.positional[0], args.sets);
  VRWKV_CHECK(!config.data.file.empty(), config.source, ": data.file is not set");
  const auto t0 = std::chrono::steady_clock::now();
  const data::LlavaDataset dataset(config.data.file);
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  const int threads = args.has("threads") ? std::stoi(args.get("threads"))
                                          : std::max(1u, std::thread::hardware_concurrency());
  if (config.family == ModelFamily::kV7)
    return validate_v7(config, dataset, *tokenizer, args.flag("decode-images"), threads);
  const int64_t K = config.model.image_tokens();
  const bool decode = args.flag("decode-images");
  data::ImageLoader loader = decode ? data::make_image_loader(config.data.image) : nullptr;
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, K, loader);
  const auto styles = {text::PromptStyle::kImageFirst, text::PromptStyle::kImageLast, text::PromptStyle::kSandwich};

  std::mutex mu;
  std::map<text::PromptStyle, StyleLengths> per_style;
  const auto bad = scan_all(dataset.size(), threads, [&](size_t i) {
    const auto conversation = builder.conversation(i);
    for (auto style : styles) {
      const auto r = text::render_conversation(conversation, style, *tokenizer);
      const bool image = conversation.has_image();
      {
        std::lock_guard<std::mutex> lock(mu);
        per_style[style].add(int64_t(r.input_ids.size()) + (image ? K - 1 : 0), config.data.ctx_len);
      }
      if (style == config.data.prompt_style) builder.check_trainable(r, conversation.id);
    }
    if (conversation.has_image()) {
      const auto path = (std::filesystem::path(config.data.image_folder) / conversation.image).string();
      if (!std::filesystem::is_regular_file(path))
        throw text::SampleError("missing_image", cat("sample ", conversation.id, ": image not found: ", path));
      if (decode) loader(path);
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  print_bad(dataset, bad);
  std::printf("\nsequence positions per prompt style (tokens, the image as %lld embeddings), ctx_len %lld:\n",
              static_cast<long long>(K), static_cast<long long>(config.data.ctx_len));
  print_lengths_header("style");
  for (auto style : styles)
    print_lengths_row(text::to_string(style), per_style[style], style == config.data.prompt_style ? "  (configured)" : "");
  std::printf("\nscanned in %.1f s with %d threads\n", seconds, threads);
  return 0;
}
