// visualrwkv generate --checkpoint C (--image IMG --prompt TEXT | --questions Q.jsonl --image-folder DIR
//     --answers OUT.jsonl) [--temperature T] [--top-p P] [--max-tokens N] [--seed S] [--model-id NAME]
//     [--set key=value]...
// Answers questions with a trained checkpoint. The batch mode reads LLaVA's evaluation questions
// ({"question_id", "image", "text"} per line) and writes the answers LLaVA's evaluation scripts read
// ({"question_id", "prompt", "text", "model_id"} per line).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "image_source.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "model/generate.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/model_setup.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

const char* kUsage =
    "visualrwkv generate --checkpoint CHECKPOINT|OUTPUT_DIR (--image IMG --prompt TEXT | --questions Q.jsonl "
    "--image-folder DIR --answers OUT.jsonl) [--temperature T] [--top-p P] [--max-tokens N] [--seed S] "
    "[--model-id NAME] [--set key=value]...";

template <typename T>
T number_option(const cli::Args& a, const std::string& name, T fallback) {
  if (!a.has(name)) return fallback;
  const std::string text = a.get(name);
  try {
    size_t used = 0;
    T value;
    if constexpr (std::is_floating_point_v<T>) value = static_cast<T>(std::stod(text, &used));
    else if constexpr (std::is_unsigned_v<T>) value = static_cast<T>(std::stoull(text, &used));
    else value = static_cast<T>(std::stoll(text, &used));
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw Error(cat("--", name, ": not a number: '", text, "'"));
}

// The checkpoint folder's name ("step_00001000"), also when the path ends with a separator.
std::string folder_name(const std::string& dir) {
  auto p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

int cmd_generate(const std::vector<std::string>& argv) {
  const auto a = cli::parse_args(argv,
                                 {"checkpoint", "image", "prompt", "questions", "image-folder", "answers",
                                  "temperature", "top-p", "max-tokens", "seed", "model-id"},
                                 {}, kUsage);
  VRWKV_CHECK(a.positional.empty() && a.has("checkpoint"), "usage: ", kUsage);
  const bool single = a.has("prompt"), batch = a.has("questions");
  VRWKV_CHECK(single != batch, "give either --prompt (one question) or --questions (a file)\nusage: ", kUsage);
  if (batch) VRWKV_CHECK(a.has("answers"), "--questions needs --answers OUT.jsonl\nusage: ", kUsage);
  if (single) VRWKV_CHECK(!a.has("answers") && !a.has("image-folder"), "--prompt takes --image, not --answers or --image-folder");
  if (batch) VRWKV_CHECK(!a.has("image"), "--questions takes --image-folder, not --image");

  GenerateOptions options;
  options.temperature = number_option<double>(a, "temperature", 0.0);
  options.top_p = number_option<double>(a, "top-p", 1.0);
  options.max_new_tokens = number_option<int64_t>(a, "max-tokens", 64);
  options.seed = number_option<uint64_t>(a, "seed", 0);
  VRWKV_CHECK(options.temperature >= 0, "--temperature must be >= 0 (0: greedy)");
  VRWKV_CHECK(options.top_p > 0 && options.top_p <= 1, "--top-p must be in (0, 1]");
  VRWKV_CHECK(options.max_new_tokens > 0, "--max-tokens must be positive");

  // The run's resolved config, with --set applied before it is validated again.
  const auto dir = train::resolve_checkpoint(a.get("checkpoint"));
  auto config_json = train::read_checkpoint_json(dir, "trainer.json").at("config");
  for (const auto& s : a.sets) config::apply_override(config_json, s);
  const auto config = run_config_from_json(config_json, (fs::path(dir) / "trainer.json").string());

  VisualRWKV model(config.model);
  io::load_into(*model, train::load_checkpoint_weights(dir), dir, {"rwkv.", "vit.", "proj."});
  const auto device = train::choose_device(config.train.device, 0);
  model->to(device);
  if (config.train.precision == "bf16") model->to(torch::kBFloat16);
  for (auto& p : model->parameters()) p.requires_grad_(false);

  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  const auto load_image = data::make_image_loader(config.data.image);
  Generator generator(model, *tokenizer, config.scan_mode, config.data.prompt_style, config.data.ctx_len);
  std::fprintf(stderr, "generate: %s (%s scan, %s prompts) on %s\n", dir.c_str(), to_string(config.scan_mode).c_str(),
               text::to_string(config.data.prompt_style).c_str(), device.str().c_str());

  if (single) {
    const auto image = a.has("image") ? load_image(a.get("image")) : torch::Tensor();
    std::printf("%s\n", generator.answer(a.get("prompt"), image, options).c_str());
    return 0;
  }

  const std::string questions = a.get("questions"), answers_path = a.get("answers");
  const fs::path image_folder = a.get("image-folder", ".");
  const std::string model_id = a.get("model-id", folder_name(dir));
  std::ifstream in(questions);
  VRWKV_CHECK(in.good(), questions, ": cannot open");
  if (fs::path(answers_path).has_parent_path()) fs::create_directories(fs::path(answers_path).parent_path());
  std::ofstream out(answers_path);
  VRWKV_CHECK(out.good(), answers_path, ": cannot write");

  const auto start = std::chrono::steady_clock::now();
  int64_t line_no = 0, answered = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json q;
    try {
      q = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(questions, ":", line_no, ": not valid JSON: ", e.what()));
    }
    VRWKV_CHECK(q.is_object() && q.contains("question_id") && q.contains("text") && q["text"].is_string(),
                questions, ":", line_no, ": expected {\"question_id\", \"image\", \"text\"}");
    const auto& id = q["question_id"];
    const std::string prompt = q["text"];
    std::string answer;
    try {
      torch::Tensor image;
      if (q.contains("image") && q["image"].is_string() && !q["image"].get<std::string>().empty())
        image = load_image((image_folder / q["image"].get<std::string>()).string());
      answer = generator.answer(prompt, image, options);
    } catch (const Error& e) {
      throw Error(cat(questions, ":", line_no, " (question_id ", id.dump(), "): ", e.what()));
    }
    const nlohmann::ordered_json record = {{"question_id", id}, {"prompt", prompt}, {"text", answer}, {"model_id", model_id}};
    // An answer cut by --max-tokens may end inside a UTF-8 character: replace, never fail.
    out << record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    out.flush();  // what is answered survives an interruption
    ++answered;
    std::fprintf(stderr, "[%lld] %s: %s\n", static_cast<long long>(answered), id.dump().c_str(), answer.c_str());
  }
  VRWKV_CHECK(out.good(), answers_path, ": write failed");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "generate: %lld answers in %.1f s -> %s\n", static_cast<long long>(answered), seconds,
               answers_path.c_str());
  return 0;
}
