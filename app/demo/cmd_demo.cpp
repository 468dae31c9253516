// visualrwkv demo [--out DIR] [--quick] [--configs DIR]: the whole system on a toy problem, end to end
// on the CPU in minutes. Top to bottom: draw a synthetic LLaVA data set, train a small sentencepiece
// tokenizer on its text, stage 1 (captions), stage 2 (questions), export, answer held-out questions
// about held-out images with eval's pipeline (scored by its "demo" benchmark), then the accuracy
// table, summary.json and the loss plots.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "cli_args.h"
#include "commands.h"
#include "config/run_config.h"
#include "demo_data.h"
#include "eval_pipeline.h"
#include "llava_batch_source.h"
#include "loss_plot.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/tokenizer.h"
#include "train/checkpoint_reader.h"
#include "train/export.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using namespace vrwkv;

// A stage's config from configs/demo with this run's data, tokenizer and folders.
RunConfig stage_config(const fs::path& file, const data::DemoDataset& data, const std::string& tokenizer_path,
                       int64_t vocab_size, const fs::path& output_dir, std::vector<std::string> extra) {
  std::vector<std::string> overrides{
      "data.file=" + (file.stem() == "stage1" ? data.stage1_file : data.stage2_file),
      "data.image_folder=" + data.image_folder,
      "tokenizer.kind=sentencepiece",
      "tokenizer.path=" + tokenizer_path,
      cat("model.vocab_size=", vocab_size),
      "checkpoint.output_dir=" + output_dir.string(),
  };
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return load_run_config(file.string(), overrides);
}

}  // namespace

int cmd_demo(const std::vector<std::string>& argv) {
  const char* usage =
      "visualrwkv demo [--family v6|v7] [--out DIR] [--quick] [--configs DIR]\n"
      "  trains a small VisualRWKV on a synthetic shapes data set and reports its accuracy\n"
      "  --family v7    VisualRWKV-7 (configs/demo-v7, runs/demo-v7); default v6\n"
      "  --out DIR      run folder (default runs/demo, or runs/demo-v7)\n"
      "  --quick        a smaller data set and fewer steps (a smoke test, not the accuracy targets)\n"
      "  --configs DIR  where stage1.json and stage2.json are (default configs/demo, or configs/demo-v7)";
  const auto a = cli::parse_args(argv, {"out", "configs", "family"}, {"quick"}, usage);
  const std::string family = a.get("family", "v6");
  VRWKV_CHECK(family == "v6" || family == "v7", "--family must be v6 or v7, got ", family);
  const std::string suffix = family == "v7" ? "-v7" : "";
  VRWKV_CHECK(a.positional.empty() && a.sets.empty(), "usage: ", usage);
  const auto started = std::chrono::steady_clock::now();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // our lines interleave with the trainer's log in order
  const fs::path out = fs::absolute(a.get("out", "runs/demo" + suffix));
  const fs::path configs = a.get("configs", "configs/demo" + suffix);
  const bool quick = a.flag("quick");
  VRWKV_CHECK(fs::exists(configs / "stage1.json") && fs::exists(configs / "stage2.json"), configs.string(),
              ": stage1.json / stage2.json not found (run from the repository root or pass --configs)");
  // Only what this command writes is removed, so --out may point at a folder holding other things.
  for (const char* part : {"data", "tokenizer", "stage1", "stage2", "export"}) fs::remove_all(out / part);
  fs::create_directories(out);

  // --- 1. the data set ---------------------------------------------------------------------
  data::DemoDataOptions data_options;
  if (quick) data_options.train_images = 300, data_options.eval_images = 30;
  std::printf("[demo] drawing %lld training and %lld held-out images into %s\n",
              (long long)data_options.train_images, (long long)data_options.eval_images, (out / "data").c_str());
  const auto data = data::generate_demo_dataset((out / "data").string(), data_options);
  std::printf("[demo] stage 1: %lld captions; stage 2: %lld conversations; %lld held-out questions\n",
              (long long)data.stage1_samples, (long long)data.stage2_samples, (long long)data.eval_questions_count);

  // --- 2. a small tokenizer on the data's text ------------------------------------------------
  // Byte fallback makes "\n" (the end of an answer, never inside a training line) a real token, so
  // the model learns where an answer stops; "User" / "Assistant" are single pieces.
  fs::create_directories(out / "tokenizer");
  const std::string spm_prefix = (out / "tokenizer" / "demo").string();
  text::train_sentencepiece("--input=" + data.text_file + " --model_prefix=" + spm_prefix +
                            " --vocab_size=640 --model_type=bpe --character_coverage=1.0 --minloglevel=2"
                            " --normalization_rule_name=identity --remove_extra_whitespaces=false"
                            " --byte_fallback=true --user_defined_symbols=User,Assistant --hard_vocab_limit=false");
  const std::string tokenizer_path = spm_prefix + ".model";
  const auto tokenizer = text::make_tokenizer("sentencepiece", tokenizer_path);
  const int64_t vocab_size = (tokenizer->vocab_size() + 63) / 64 * 64;  // rounded up, as the RWKV heads are
  std::printf("[demo] tokenizer: %lld pieces (model vocab %lld)\n", (long long)tokenizer->vocab_size(),
              (long long)vocab_size);

  // --- 3. stage 1 (projector on captions), then stage 2 (questions) from stage 1 ---------------
  std::vector<std::string> quick1, quick2;
  if (quick) quick1 = {"train.steps=10"}, quick2 = {"train.steps=30"};
  const auto config1 = stage_config(configs / "stage1.json", data, tokenizer_path, vocab_size, out / "stage1", quick1);
  std::printf("[demo] stage 1: %lld steps\n", (long long)config1.train.steps);
  const auto summary1 = train::run_training(config1, {}, data::make_llava_batch_source);
  quick2.push_back("init.checkpoint=" + (out / "stage1").string());
  const auto config2 = stage_config(configs / "stage2.json", data, tokenizer_path, vocab_size, out / "stage2", quick2);
  std::printf("[demo] stage 2: %lld steps\n", (long long)config2.train.steps);
  const auto summary2 = train::run_training(config2, {}, data::make_llava_batch_source);

  // --- 4. export -------------------------------------------------------------------------------
  const auto exported = train::export_checkpoint(train::resolve_checkpoint((out / "stage2").string()),
                                                 (out / "export").string(), "fp32", "demo");
  std::printf("[demo] exported %zu files into %s\n", exported.size(), (out / "export").c_str());

  // --- 5. answer and score the held-out questions as `visualrwkv eval` does ----------------------
  const std::string answers_path = (out / "answers.jsonl").string(), report_path = (out / "eval_report.json").string();
  for (const auto& stale : {answers_path, answers_path + ".rank0", report_path}) fs::remove(stale);  // eval resumes
  const auto eval_started = std::chrono::steady_clock::now();
  EvalRequest request;
  request.checkpoint = (out / "stage2").string();
  request.questions = data.eval_questions;
  request.image_folder = data.image_folder;
  request.answers = answers_path;
  request.max_tokens = 16;
  request.benchmark = "demo";
  request.annotations = data.eval_answers;
  const auto eval_report = run_eval(request);
  write_eval_report(report_path, eval_report);
  const double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_started).count();
  const auto& metrics = eval_report.score.metrics;

  // --- 6. the report -------------------------------------------------------------------------------
  const auto chance = data::demo_chance();
  const int64_t total = metrics.at("overall").at("count");
  double overall_chance = 0;
  std::printf("\n%-10s %9s %9s %8s\n", "question", "answered", "accuracy", "chance");
  nlohmann::json accuracy, chance_json;
  for (const auto& type : data::demo_question_types()) {
    const auto m = metrics.value(type, nlohmann::ordered_json{{"accuracy", 0.0}, {"count", 0}});
    const double acc = m.at("accuracy");
    const int64_t count = m.at("count");
    std::printf("%-10s %9lld %8.1f%% %7.1f%%\n", type.c_str(), (long long)count, 100 * acc, 100 * chance.at(type));
    accuracy[type] = acc;
    chance_json[type] = chance.at(type);
    overall_chance += chance.at(type) * double(count) / double(std::max<int64_t>(1, total));
  }
  const double overall = metrics.at("overall").at("accuracy");
  std::printf("%-10s %9lld %8.1f%% %7.1f%%\n\n", "overall", (long long)total, 100 * overall, 100 * overall_chance);
  accuracy["overall"] = overall;
  chance_json["overall"] = overall_chance;

  // --- 7. loss curves --------------------------------------------------------------------------------
  const std::string plot1 = (out / "loss_stage1.png").string(), plot2 = (out / "loss_stage2.png").string();
  data::plot_loss_curve(data::read_loss_curve((out / "stage1" / "metrics.jsonl").string()),
                        "stage 1 (captions)", plot1);
  data::plot_loss_curve(data::read_loss_curve((out / "stage2" / "metrics.jsonl").string()),
                        "stage 2 (questions)", plot2);

  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const nlohmann::json summary = {
      {"accuracy", accuracy},
      {"chance", chance_json},
      {"questions", total},
      {"wall_time_s", wall_s},
      {"eval_time_s", eval_s},
      {"quick", quick},
      {"tokens_per_s", {{"stage1", summary1.value("tokens_per_s", 0.0)}, {"stage2", summary2.value("tokens_per_s", 0.0)}}},
      {"stage1", summary1},
      {"stage2", summary2},
      {"paths", {{"data", data.dir},
                 {"tokenizer", tokenizer_path},
                 {"stage1", (out / "stage1").string()},
                 {"stage2", (out / "stage2").string()},
                 {"export", exported},
                 {"answers", answers_path},
                 {"eval_report", report_path},
                 {"loss_plots", {plot1, plot2}}}},
  };
  std::ofstream(out / "summary.json") << summary.dump(2) << "\n";
  std::printf("[demo] %.0f s in all (stage 1 %.0f tok/s, stage 2 %.0f tok/s); summary %s, loss plots %s, %s\n", wall_s,
              summary1.value("tokens_per_s", 0.0), summary2.value("tokens_per_s", 0.0),
              (out / "summary.json").c_str(), plot1.c_str(), plot2.c_str());
  return 0;
}
