// visualrwkv export CHECKPOINT OUTDIR [--dtype bf16|fp16|fp32] [--name NAME] (default: bf16 for v6, fp16 for v7)
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "train/export.h"

int cmd_export(const std::vector<std::string>& argv) {
  using namespace vrwkv;
  const char* usage =
      "visualrwkv export CHECKPOINT|OUTPUT_DIR OUTDIR [--dtype bf16|fp16|fp32 (default: bf16 for v6, fp16 for v7)] "
      "[--name NAME]";
  const auto a = cli::parse_args(argv, {"dtype", "name"}, {}, usage);
  VRWKV_CHECK(a.positional.size() == 2, "usage: ", usage);
  const auto files =
      train::export_checkpoint(a.positional[0], a.positional[1], a.get("dtype", ""), a.get("name", "visualrwkv"));
  for (const auto& f : files) std::printf("wrote %s\n", f.c_str());
  return 0;
}
