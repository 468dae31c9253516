// visualrwkv eval --checkpoint C --questions Q --answers OUT.jsonl [--image-folder DIR] [--format F]
//     [--batch-size B] [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--model-id NAME]
//     [--benchmark NAME [--annotations PATH] [--submission OUT]] [--report R.json] [--set key=value]...
// Answers a benchmark's questions with a trained checkpoint (batched recurrent decoding, sharded
// over the ranks of a torchrun launch, resumable), then scores the answers as the original does.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "cli_args.h"
#include "commands.h"
#include "dist/dist_env.h"
#include "eval/answers.h"
#include "eval/questions.h"
#include "eval/score.h"
#include "image_source.h"
#include "infer/eval_run.h"
#include "text/tokenizer.h"
#include "trained_model.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

const char* kUsage =
    "visualrwkv eval --checkpoint CHECKPOINT|OUTPUT_DIR --questions FILE --answers OUT.jsonl [--image-folder DIR]\n"
    "    [--format auto|jsonl|scienceqa|mmbench|mmbench_cn] [--batch-size 16] [--max-tokens 128]\n"
    "    [--temperature 0] [--top-p 1] [--seed 0] [--model-id NAME]\n"
    "    [--benchmark NAME [--annotations PATH] [--submission OUT]] [--report REPORT.json] [--set key=value]...\n"
    "  launch with torchrun (or any launcher's RANK / WORLD_SIZE) to shard the questions over ranks;\n"
    "  run the same command again to resume; `visualrwkv score --benchmark list` lists the benchmarks";

// The images of the questions: files under the image folder, or bytes carried by the question file.
QuestionImages question_images(const RunConfig& config, const fs::path& folder) {
  auto files = data::make_image_loader(config.data.image);
  auto bytes = data::make_image_bytes_loader(config.data.image);
  return [files, bytes, folder](const eval::Question& q) -> torch::Tensor {
    if (!q.image_bytes.empty()) return bytes(q.image_bytes, q.where);
    if (!q.image_path.empty()) return files((folder / q.image_path).string());
    return torch::Tensor();
  };
}

// The answers that were given without their image (metadata.image_error), from the merged file.
std::vector<std::string> image_problems(const std::string& answers) {
  std::vector<std::string> out;
  for (const auto& a : eval::read_answer_lines(answers)) {
    const auto& m = a.record.contains("metadata") ? a.record["metadata"] : nlohmann::ordered_json();
    if (m.is_object() && m.contains("image_error")) out.push_back(cat(a.question_id.dump(), ": ", m["image_error"].get<std::string>()));
  }
  return out;
}

}  // namespace

int cmd_eval(const std::vector<std::string>& argv) {
  const auto a = cli::parse_args(argv,
                                 {"checkpoint", "questions", "answers", "image-folder", "format", "batch-size",
                                  "max-tokens", "temperature", "top-p", "seed", "model-id", "benchmark",
                                  "annotations", "submission", "report"},
                                 {}, kUsage);
  VRWKV_CHECK(a.positional.empty() && a.has("checkpoint") && a.has("questions") && a.has("answers"), "usage: ",
              kUsage);
  EvalRunOptions options;
  options.answers = a.get("answers");
  options.batch_size = cli::number_option<int64_t>(a, "batch-size", 16);
  options.generate.max_new_tokens = cli::number_option<int64_t>(a, "max-tokens", 128);
  options.generate.temperature = cli::number_option<double>(a, "temperature", 0.0);
  options.generate.top_p = cli::number_option<double>(a, "top-p", 1.0);
  options.generate.seed = cli::number_option<uint64_t>(a, "seed", 0);
  VRWKV_CHECK(options.batch_size > 0, "--batch-size must be positive");
  VRWKV_CHECK(options.generate.max_new_tokens > 0, "--max-tokens must be positive");
  VRWKV_CHECK(options.generate.temperature >= 0, "--temperature must be >= 0 (0: greedy)");
  VRWKV_CHECK(options.generate.top_p > 0 && options.generate.top_p <= 1, "--top-p must be in (0, 1]");
  const std::string benchmark = a.get("benchmark");
  if (!benchmark.empty()) eval::find_scorer(benchmark);  // an unknown name fails before hours of answering

  const auto env = dist::detect_dist_env();
  options.rank = env.rank;
  options.world_size = env.world_size;
  const std::string questions_path = a.get("questions");
  const auto questions = eval::read_questions(
      questions_path, eval::question_format_from_string(a.get("format", "auto"), questions_path));
  VRWKV_CHECK(!questions.empty(), questions_path, ": no questions");

  auto trained = load_trained_model(a.get("checkpoint"), a.sets, env.local_rank);
  const auto& config = trained.config;
  options.model_id = a.get("model-id", checkpoint_folder_name(trained.checkpoint));
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  // No ctx_len limit: the recurrence reads prompts of any length (the original does not cut them).
  BatchDecoder decoder(trained.model, *tokenizer, config.scan_mode, config.data.prompt_style, /*ctx_len=*/0);
  std::fprintf(stderr, "eval: %s (%s scan, %s prompts) on %s; %zu questions from %s, batch %lld\n",
               trained.checkpoint.c_str(), to_string(config.scan_mode).c_str(),
               text::to_string(config.data.prompt_style).c_str(), trained.device.str().c_str(), questions.size(),
               questions_path.c_str(), static_cast<long long>(options.batch_size));

  const auto stats =
      answer_questions(decoder, questions, question_images(config, a.get("image-folder", ".")), options);
  std::fprintf(stderr, "eval: rank %d answered %lld questions in %.1f s (%.2f answers/s, %.1f tokens/s)\n", env.rank,
               static_cast<long long>(stats.answered), stats.seconds, stats.answered / std::max(stats.seconds, 1e-9),
               stats.generated_tokens / std::max(stats.seconds, 1e-9));
  if (env.rank != 0) return 0;

  merge_answers(questions, options.answers);
  nlohmann::ordered_json report = {{"checkpoint", trained.checkpoint},
                                   {"questions", questions_path},
                                   {"answers", options.answers},
                                   {"count", questions.size()},
                                   {"rank0", {{"answered", stats.answered},
                                              {"seconds", stats.seconds},
                                              {"generated_tokens", stats.generated_tokens}}}};
  const auto problems = image_problems(options.answers);
  report["answered_without_image"] = problems;
  if (!problems.empty()) {
    std::fprintf(stderr, "eval: %zu questions were answered without their image:\n", problems.size());
    for (size_t i = 0; i < problems.size() && i < 20; ++i) std::fprintf(stderr, "  %s\n", problems[i].c_str());
  }
  std::fprintf(stderr, "eval: %zu answers -> %s\n", questions.size(), options.answers.c_str());

  if (!benchmark.empty()) {
    const auto& scorer = eval::find_scorer(benchmark);
    const auto result = scorer.score({options.answers, a.get("annotations"), questions_path, a.get("submission")});
    std::printf("%s", result.table.c_str());
    for (const auto& note : result.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    report["benchmark"] = benchmark;
    report["metrics"] = result.metrics;
    report["notes"] = result.notes;
  }
  if (a.has("report")) write_file_atomically(a.get("report"), report.dump(2) + "\n");
  return 0;
}
