// visualrwkv: the command-line entry point. Each subcommand lives in its own cmd_*.cpp.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  const char* usage;
};

const Command kCommands[] = {
    {"demo", cmd_demo, "demo [--out DIR] [--quick]         train a small model on synthetic shapes, report accuracy"},
    {"train", cmd_train, "train CONFIG [--set k=v] [--resume [CKPT]] [--force]  run a training stage"},
    {"generate", cmd_generate, "generate --checkpoint C --prompt T [--image IMG]  answer one question (question files: eval)"},
    {"eval", cmd_eval, "eval --checkpoint C --questions Q --answers OUT.jsonl [--benchmark B ...]  answer and score a benchmark"},
    {"score", cmd_score, "score --benchmark B --answers A.jsonl [--annotations P] [--questions Q] [--submission OUT]  score answers"},
    {"export", cmd_export, "export CHECKPOINT OUTDIR [--dtype bf16|fp16|fp32]  weights for the original's tools"},
    {"inspect", cmd_inspect, "inspect FILE                       keys, shapes, dtypes and parameter counts of a checkpoint"},
    {"tokenize", cmd_tokenize, "tokenize --vocab F (--text T | --file F)  token ids as a JSON array"},
    {"render", cmd_render, "render CONFIG --index N            one sample's text, ids and labels as JSON"},
    {"validate-data", cmd_validate_data, "validate-data CONFIG               bad samples, token lengths, ctx_len overflow"},
    {"clean-data", cmd_clean_data, "clean-data IN OUT.jsonl [--max-rounds N]  drop empty replies, split long conversations"},
    {"check-config", cmd_check_config, "check-config CONFIG [--set k=v]    validate and print the resolved config"},
};

void print_usage() {
  std::fprintf(stderr, "usage: visualrwkv COMMAND [ARGS]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(stderr, "  %s\n", c.usage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (argv[1] != std::string(c.name)) continue;
    try {
      return c.run(args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "visualrwkv: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
