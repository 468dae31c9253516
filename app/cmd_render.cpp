// visualrwkv render CONFIG --index N [--set k=v]: one sample as the trainer sees it, as JSON
// {"id", "text", "input_ids", "labels"}: v6 before truncation and padding (the batch assembles them),
// v7 as it trains (K placeholder ids per image, cut or padded to exactly ctx_len).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "llava_dataset.h"
#include "sample_builder.h"
#include "sample_builder7.h"
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
  if (config.family == ModelFamily::kV7) {
    VRWKV_CHECK(!args.has("style"), "--style: v7 has one layout (images first in their human turn)");
    const text::V7Layout layout{config.model7.tokens_per_image, config.data.ctx_len};
    const data::SampleBuilder7 builder(dataset, *tokenizer, config.data, layout, nullptr);
    const auto conversation = builder.conversation(std::stoull(args.get("index")));
    const auto rendered = text::render_conversation_v7(conversation, int64_t(conversation.images.size()), layout,
                                                       *tokenizer);
    const nlohmann::ordered_json out = {{"id", conversation.id},
                                        {"images", conversation.images},
                                        {"text", rendered.text},
                                        {"input_ids", rendered.input_ids},
                                        {"labels", rendered.labels}};
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    return 0;
  }
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
