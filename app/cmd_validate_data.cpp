// visualrwkv validate-data CONFIG [--set k=v] [--decode-images]: scans the whole dataset up front
// and prints bad samples per reason, token length percentiles per prompt style and how many
// samples exceed ctx_len, using every core.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "image_source.h"
#include "llava_dataset.h"
#include "sample_builder.h"
#include "text/tokenizer.h"

namespace {

using namespace vrwkv;

struct StyleLengths {
  std::vector<int64_t> lengths;  // assembled positions: text tokens + K image embeddings - placeholder
  int64_t over_ctx = 0;
};

int64_t percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

int cmd_validate_data(const std::vector<std::string>& argv) {
  const char* usage = "visualrwkv validate-data CONFIG [--set key=value]... [--decode-images] [--threads N]";
  const auto args = cli::parse_args(argv, {"threads"}, {"decode-images"}, usage);
  VRWKV_CHECK(args.positional.size() == 1, "usage: ", usage);
  const auto config = load_run_config(args.positional[0], args.sets);
  require_family(config, ModelFamily::kV6, "validate-data");
  VRWKV_CHECK(!config.data.file.empty(), config.source, ": data.file is not set");
  const auto t0 = std::chrono::steady_clock::now();
  const data::LlavaDataset dataset(config.data.file);
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  const int64_t K = config.model.image_tokens();
  const bool decode = args.flag("decode-images");
  data::ImageLoader loader = decode ? data::make_image_loader(config.data.image) : nullptr;
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, K, loader);
  const auto styles = {text::PromptStyle::kImageFirst, text::PromptStyle::kImageLast, text::PromptStyle::kSandwich};

  std::mutex mu;
  std::map<std::string, int64_t> bad;
  std::map<text::PromptStyle, StyleLengths> per_style;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::map<std::string, int64_t> my_bad;
    std::map<text::PromptStyle, StyleLengths> mine;
    for (size_t i; (i = next.fetch_add(1)) < dataset.size();) {
      try {
        const auto conversation = builder.conversation(i);
        for (auto style : styles) {
          const auto r = text::render_conversation(conversation, style, *tokenizer);
          const bool image = conversation.has_image();
          const int64_t positions = int64_t(r.input_ids.size()) + (image ? K - 1 : 0);
          mine[style].lengths.push_back(positions);
          if (positions > config.data.ctx_len) ++mine[style].over_ctx;
          if (style == config.data.prompt_style) builder.check_trainable(r, conversation.id);
        }
        if (conversation.has_image()) {
          const auto path = (std::filesystem::path(config.data.image_folder) / conversation.image).string();
          if (!std::filesystem::is_regular_file(path))
            throw text::SampleError("missing_image", cat("sample ", conversation.id, ": image not found: ", path));
          if (decode) loader(path);
        }
      } catch (const text::SampleError& e) {
        ++my_bad[e.reason()];
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [r, n] : my_bad) bad[r] += n;
    for (auto& [s, l] : mine) {
      auto& dst = per_style[s];
      dst.lengths.insert(dst.lengths.end(), l.lengths.begin(), l.lengths.end());
      dst.over_ctx += l.over_ctx;
    }
  };
  const int threads = args.has("threads") ? std::stoi(args.get("threads"))
                                          : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int64_t total_bad = 0;
  for (const auto& [r, n] : bad) total_bad += n;
  std::printf("dataset      %s\nsamples      %zu\nbad samples  %lld (%.3f%%)\n", dataset.path().c_str(), dataset.size(),
              static_cast<long long>(total_bad), dataset.size() ? 100.0 * total_bad / dataset.size() : 0.0);
  for (const auto& [r, n] : bad) std::printf("  %-28s %lld\n", r.c_str(), static_cast<long long>(n));
  std::printf("\nsequence positions per prompt style (tokens, the image as %lld embeddings), ctx_len %lld:\n",
              static_cast<long long>(K), static_cast<long long>(config.data.ctx_len));
  std::printf("  %-12s %8s %8s %8s %8s %8s %12s\n", "style", "p50", "p90", "p99", "max", "samples", "> ctx_len");
  for (auto style : styles) {
    auto& s = per_style[style];
    const int64_t max = s.lengths.empty() ? 0 : *std::max_element(s.lengths.begin(), s.lengths.end());
    std::printf("  %-12s %8lld %8lld %8lld %8lld %8zu %12lld%s\n", text::to_string(style).c_str(),
                static_cast<long long>(percentile(s.lengths, 0.5)), static_cast<long long>(percentile(s.lengths, 0.9)),
                static_cast<long long>(percentile(s.lengths, 0.99)), static_cast<long long>(max), s.lengths.size(),
                static_cast<long long>(s.over_ctx), style == config.data.prompt_style ? "  (configured)" : "");
  }
  std::printf("\nscanned in %.1f s with %d threads\n", seconds, threads);
  return 0;
}
