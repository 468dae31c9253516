#include "eval_pipeline.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/atomic_file.h"
#include "dist/dist_env.h"
#include "eval/answers.h"
#include "eval/questions.h"
#include "image_source.h"
#include "infer/batch_decoder.h"
#include "infer/generate7.h"
#include "tower_image_source7.h"
#include "text/tokenizer.h"
#include "train/trained_model.h"

namespace vrwkv {
namespace {

namespace fs = std::filesystem;

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

// v7: each question's image for the three towers, from a file or from the question file's bytes.
QuestionImages question_images7(const RunConfig& config, const fs::path& folder) {
  const auto transforms = data::tower_transforms7(config.model7.towers);
  auto files = data::make_tower_image_loader7(config.data.image, transforms);
  auto bytes = data::make_tower_image_bytes_loader7(config.data.image, transforms);
  return [files, bytes, folder](const eval::Question& q) -> QuestionPixels {
    if (!q.image_bytes.empty()) return QuestionPixels(bytes(q.image_bytes, q.where));
    if (!q.image_path.empty()) return QuestionPixels(files((folder / q.image_path).string()));
    return QuestionPixels();
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

EvalReport run_eval(const EvalRequest& request) {
  VRWKV_CHECK(!request.checkpoint.empty() && !request.questions.empty() && !request.answers.empty(),
              "eval: the checkpoint, the questions and the answer file are required");
  EvalRunOptions options;
  options.answers = request.answers;
  options.batch_size = request.batch_size;
  options.generate.max_new_tokens = request.max_tokens;
  options.generate.temperature = request.temperature;
  options.generate.top_p = request.top_p;
  options.generate.seed = request.seed;
  VRWKV_CHECK(options.batch_size > 0, "--batch-size must be positive");
  VRWKV_CHECK(options.generate.max_new_tokens > 0, "--max-tokens must be positive");
  VRWKV_CHECK(options.generate.temperature >= 0, "--temperature must be >= 0 (0: greedy)");
  VRWKV_CHECK(options.generate.top_p > 0 && options.generate.top_p <= 1, "--top-p must be in (0, 1]");
  if (!request.benchmark.empty()) eval::find_scorer(request.benchmark);  // an unknown name fails before hours of answering

  const auto env = dist::detect_dist_env();
  options.rank = env.rank;
  options.world_size = env.world_size;
  const auto questions =
      eval::read_questions(request.questions, eval::question_format_from_string(request.format, request.questions));
  VRWKV_CHECK(!questions.empty(), request.questions, ": no questions");

  auto trained = train::load_trained_model(request.checkpoint, request.sets, env.local_rank);
  const auto& config = trained.config;
  options.model_id = request.model_id.empty() ? train::checkpoint_folder_name(trained.checkpoint) : request.model_id;
  const auto tokenizer = text::make_tokenizer(config.tokenizer.kind, config.tokenizer.path);
  // No ctx_len limit: the recurrence reads prompts of any length (the original does not cut them).
  std::unique_ptr<QuestionDecoder> decoder;
  QuestionImages images;
  if (config.family == ModelFamily::kV7) {
    decoder = std::make_unique<Decoder7>(trained.model7, *tokenizer, /*ctx_len=*/0);
    images = question_images7(config, request.image_folder);
    std::fprintf(stderr, "eval: %s (VisualRWKV-7, K %lld) on %s; %zu questions from %s\n", trained.checkpoint.c_str(),
                 static_cast<long long>(config.model7.tokens_per_image), trained.device.str().c_str(),
                 questions.size(), request.questions.c_str());
  } else {
    decoder = std::make_unique<BatchDecoder>(trained.model, *tokenizer, config.scan_mode, config.data.prompt_style,
                                             /*ctx_len=*/0);
    images = question_images(config, request.image_folder);
    std::fprintf(stderr, "eval: %s (%s scan, %s prompts) on %s; %zu questions from %s, batch %lld\n",
                 trained.checkpoint.c_str(), to_string(config.scan_mode).c_str(),
                 text::to_string(config.data.prompt_style).c_str(), trained.device.str().c_str(), questions.size(),
                 request.questions.c_str(), static_cast<long long>(options.batch_size));
  }

  EvalReport report;
  report.checkpoint = trained.checkpoint;
  report.questions = request.questions;
  report.answers = options.answers;
  report.count = static_cast<int64_t>(questions.size());
  report.run = answer_questions(*decoder, questions, images, options);
  const auto& stats = report.run;
  std::fprintf(stderr, "eval: rank %d answered %lld questions in %.1f s (%.2f answers/s, %.1f tokens/s)\n", env.rank,
               static_cast<long long>(stats.answered), stats.seconds, stats.answered / std::max(stats.seconds, 1e-9),
               stats.generated_tokens / std::max(stats.seconds, 1e-9));
  if (env.rank != 0) return report;

  merge_answers(questions, options.answers);
  report.merged = true;
  report.answered_without_image = image_problems(options.answers);
  const auto& problems = report.answered_without_image;
  if (!problems.empty()) {
    std::fprintf(stderr, "eval: %zu questions were answered without their image:\n", problems.size());
    for (size_t i = 0; i < problems.size() && i < 20; ++i) std::fprintf(stderr, "  %s\n", problems[i].c_str());
  }
  std::fprintf(stderr, "eval: %zu answers -> %s\n", questions.size(), options.answers.c_str());

  if (!request.benchmark.empty()) {
    const auto& scorer = eval::find_scorer(request.benchmark);
    report.benchmark = request.benchmark;
    report.score = scorer.score({options.answers, request.annotations, request.questions, request.submission});
    std::printf("%s", report.score.table.c_str());
    for (const auto& note : report.score.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  return report;
}

nlohmann::ordered_json eval_report_json(const EvalReport& report) {
  nlohmann::ordered_json out = {{"checkpoint", report.checkpoint},
                                {"questions", report.questions},
                                {"answers", report.answers},
                                {"count", report.count},
                                {"rank0", {{"answered", report.run.answered},
                                           {"seconds", report.run.seconds},
                                           {"generated_tokens", report.run.generated_tokens}}},
                                {"answered_without_image", report.answered_without_image}};
  if (!report.benchmark.empty()) {
    out["benchmark"] = report.benchmark;
    out["metrics"] = report.score.metrics;
    out["notes"] = report.score.notes;
  }
  return out;
}

void write_eval_report(const std::string& path, const EvalReport& report) {
  write_file_atomically(path, eval_report_json(report).dump(2) + "\n");
}

}  // namespace vrwkv
