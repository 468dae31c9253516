// visualrwkv check-config CONFIG [--set k=v]...: validate and print the resolved config;
// visualrwkv check-config --reference: the Markdown reference of every key (docs/config.md).
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"

int cmd_check_config(const std::vector<std::string>& argv) {
  using namespace vrwkv;
  const char* usage = "visualrwkv check-config CONFIG [--set key=value]... | --reference";
  const auto args = cli::parse_args(argv, {}, {"reference"}, usage);
  if (args.flag("reference")) {
    std::printf("%s", config::markdown_reference(run_config_schema()).c_str());
    return 0;
  }
  VRWKV_CHECK(args.positional.size() == 1, "usage: ", usage);
  const auto config = load_run_config(args.positional[0], args.sets);
  std::printf("%s\n", config.resolved.dump(2).c_str());
  return 0;
}
