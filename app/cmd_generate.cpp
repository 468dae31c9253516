// visualrwkv generate --checkpoint C --prompt TEXT [--image IMG] [--temperature T] [--top-p P]
//     [--max-tokens N] [--seed S] [--set key=value]...
// Answers one question (about one image) with a trained checkpoint of either family. Question files are answered,
// batched and sharded, by `visualrwkv eval`.
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "image_source.h"
#include "infer/generate.h"
#include "infer/generate7.h"
#include "text/tokenizer.h"
#include "tower_image_source7.h"
#include "train/trained_model.h"

namespace {

using namespace vrwkv;

const char* kUsage =
    "visualrwkv generate --checkpoint CHECKPOINT|OUTPUT_DIR --prompt TEXT [--image IMG] [--temperature T] "
    "[--top-p P] [--max-tokens N] [--seed S] [--set key=value]...  (question files: visualrwkv eval)";

}  // namespace

int cmd_generate(const std::vector<std::string>& argv) {
  const auto a = cli::parse_args(argv, {"checkpoint", "image", "prompt", "temperature", "top-p", "max-tokens", "seed"},
                                 {}, kUsage);
  VRWKV_CHECK(a.positional.empty() && a.has("checkpoint") && a.has("prompt"), "usage: ", kUsage);

  GenerateOptions options;
  options.temperature = cli::number_option<double>(a, "temperature", 0.0);
  options.top_p = cli::number_option<double>(a, "top-p", 1.0);
  options.max_new_tokens = cli::number_option<int64_t>(a, "max-tokens", 64);
  options.seed = cli::number_option<uint64_t>(a, "seed", 0);
  VRWKV_CHECK(options.temperature >= 0, "--temperature must be >= 0 (0: greedy)");
  VRWKV_CHECK(options.top_p > 0 && options.top_p <= 1, "--top-p must be in (0, 1]");
  VRWKV_CHECK(options.max_new_tokens > 0, "--max-tokens must be positive");

  // The run's resolved config, with --set applied before it is validated again.
  auto trained = train::load_trained_model(a.get("checkpoint"), a.sets, 0);
  const auto& config = trained.config;
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  if (config.family == ModelFamily::kV7) {
    // v7: the original's prompt, the image read for each of the three towers.
    Generator7 generator(trained.model7, *tokenizer, config.data.ctx_len);
    std::fprintf(stderr, "generate: %s (VisualRWKV-7, K %lld) on %s\n", trained.checkpoint.c_str(),
                 static_cast<long long>(config.model7.tokens_per_image), trained.device.str().c_str());
    TowerPixels pixels;
    if (a.has("image")) {
      const auto load = data::make_tower_image_loader7(config.data.image, data::tower_transforms7(config.model7.towers));
      pixels = load(a.get("image"));
    }
    std::printf("%s\n", generator.answer(a.get("prompt"), pixels, options).c_str());
    return 0;
  }
  Generator generator(trained.model, *tokenizer, config.scan_mode, config.data.prompt_style, config.data.ctx_len);
  std::fprintf(stderr, "generate: %s (%s scan, %s prompts) on %s\n", trained.checkpoint.c_str(),
               to_string(config.scan_mode).c_str(), text::to_string(config.data.prompt_style).c_str(),
               trained.device.str().c_str());
  const auto image = a.has("image") ? data::make_image_loader(config.data.image)(a.get("image")) : torch::Tensor();
  std::printf("%s\n", generator.answer(a.get("prompt"), image, options).c_str());
  return 0;
}
