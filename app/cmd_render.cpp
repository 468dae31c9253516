// visualrwkv render CONFIG --index N [--set k=v]: one sample as the trainer sees it before
// truncation and padding, as JSON {"id", "text", "input_ids", "labels"}.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "llava_dataset.h"
#include "sample_builder.h"
#include "text/tokenizer.h"

int cmd_render(const std::vector<std::string>& argv) {
  using namespace vrwkv;
  const char* usage = "visualrwkv render CONFIG --index N [--style image_first|image_last|sandwich] [--set key=value]";
  const auto args = cli::parse_args(argv, {"index", "style"}, {}, usage);
  VRWKV_CHECK(args.positional.size() == 1 && args.has("index"), "usage: ", usage);
  const auto config = load_run_config(args.positional[0], args.sets);
  VRWKV_CHECK(!config.data.file.empty(), config.source, ": data.file is not set");
  const data::LlavaDataset dataset(config.data.file);
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  const data::SampleBuilder builder(dataset, *tokenizer, config.data, config.model.image_tokens(), nullptr);
  const size_t index = std::stoull(args.get("index"));
  const auto style = args.has("style") ? text::prompt_style_from_string(args.get("style")) : config.data.prompt_style;
  const auto conversation = builder.conversation(index);
  const auto rendered = text::render_conversation(conversation, style, *tokenizer);
  const nlohmann::ordered_json out = {{"id", conversation.id},
                              {"text", rendered.text},
                              {"input_ids", rendered.input_ids},
                              {"labels", rendered.labels}};
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
  return 0;
}
