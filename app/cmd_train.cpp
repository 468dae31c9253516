// visualrwkv train CONFIG [--set key=value]... [--resume [CHECKPOINT]] [--force]
#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "llava_batch_source.h"
#include "train/trainer.h"

int cmd_train(const std::vector<std::string>& argv) {
  using namespace vrwkv;
  const char* usage =
      "visualrwkv train CONFIG [--set key=value]... [--resume [CHECKPOINT|OUTPUT_DIR]] [--force] [--stop-after N]\n"
      "  --resume alone continues from the newest checkpoint in checkpoint.output_dir\n"
      "  --stop-after N saves and exits after N steps, as a preempted job does";
  // --resume takes an optional value: a following argument that is not an option.
  std::vector<std::string> args = argv;
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == "--resume" && (i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0)) args[i] = "--resume=latest";
  const auto a = cli::parse_args(args, {"resume", "stop-after"}, {"force"}, usage);
  VRWKV_CHECK(a.positional.size() == 1, "usage: ", usage);
  const auto config = load_run_config(a.positional[0], a.sets);
  train::TrainOptions options;
  options.resume = a.get("resume");
  options.force = a.flag("force");
  options.stop_after = a.has("stop-after") ? std::stoll(a.get("stop-after")) : 0;
  const auto summary = train::run_training(config, options, data::make_llava_batch_source);
  // The same on every rank: 0 done, 3 stopped early (preempted: resume with --resume), 1 failed.
  return summary.value("stopped_early", false) ? 3 : 0;
}
