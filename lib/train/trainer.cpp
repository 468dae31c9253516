// The training loop, top to bottom: set-up (ranks, device, logging), the resume point, the model
// and optimizer, the data, then steps (train_step, progress, validation, checkpoint) until the last
// step or a stop signal. The parts live beside it: resume.cpp (resume policy), model_setup.cpp,
// train_step.cpp, progress.cpp (metrics, FLOPs), validation.cpp, run_checkpoint.cpp (a run to and
// from a checkpoint).
#include "train/trainer.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "base/error.h"
#include "dist/dist_env.h"
#include "train/checkpoint_layout.h"
#include "train/model_setup.h"
#include "train/resume.h"
#include "train/run_checkpoint.h"
#include "train/stop_signal.h"
#include "train/train_step.h"
#include "train/validation.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

void setup_logging(const std::string& output_dir, int rank) {
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
  if (rank == 0) sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(output_dir + "/train.log"));
  auto logger = std::make_shared<spdlog::logger>("train", sinks.begin(), sinks.end());
  logger->set_pattern(rank == 0 ? "[%Y-%m-%d %H:%M:%S] %^%l%$ %v" : fmt::format("[rank {}] %^%l%$ %v", rank));
  logger->set_level(rank == 0 ? spdlog::level::info : spdlog::level::warn);
  // Every line is in train.log at once (`tail -f`): info lines come once per logging step, so this is cheap.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// The whole run's skip counts: the resumed total plus every rank's own since this process started.
nlohmann::json run_skip_stats(dist::Communicator& comm, const BatchSource& batches, const nlohmann::json& earlier) {
  nlohmann::json total = add_skip_stats(earlier, nullptr);
  for (const auto& s : comm.all_gather_strings(batches.skip_stats().dump()))
    total = add_skip_stats(total, nlohmann::json::parse(s));
  return total;
}

}  // namespace

nlohmann::json run_training(const RunConfig& config, const TrainOptions& options,
                            const BatchSourceFactory& make_batches) {
  // --- set-up: ranks, device, logging --------------------------------------------------------
  const auto env = dist::detect_dist_env();
  const auto device = choose_device(config.train.device, env.local_rank);
  const std::string out_dir = config.checkpoint.output_dir;
  VRWKV_CHECK(!out_dir.empty(), config.source, ": checkpoint.output_dir is not set");
  fs::create_directories(out_dir);
  setup_logging(out_dir, env.rank);
  install_stop_handlers();
  auto comm = dist::Communicator::create(
      env, device, std::chrono::milliseconds(static_cast<int64_t>(config.train.dist_timeout_s * 1000)));
  spdlog::info("rank {} of {} ({}), device {}", env.rank, env.world_size, env.launcher, device.str());

  // --- resume point, model and optimizer, data -----------------------------------------------
  const ResumePoint from = find_resume_point(options.resume, options.force, config, *comm);
  RunModel run = prepare_model(config, device, *comm, from.dir);
  const int64_t batch = global_batch(config, env.world_size);
  const auto batches = make_batches({config, env.rank, env.world_size, config.train.micro_batch_size,
                                     config.train.grad_accumulation, from.samples, from.skips});
  spdlog::info("data: {}; {} samples per step ({} ranks x {} micro batches of {})", batches->describe(), batch,
               env.world_size, config.train.grad_accumulation, config.train.micro_batch_size);
  StepRunner trainer(config, run.model, run.trained, run.owners, *run.optimizer, comm, device);
  std::optional<Progress> progress;  // rank 0 reports for everyone
  if (comm->is_main())
    progress.emplace((fs::path(out_dir) / "metrics.jsonl").string(), from.step, config.train.steps,
                     config.log_every_steps, run.model.flops_per_token(config.data.ctx_len),
                     device_peak_flops(device, config.train.precision).value_or(0),
                     device.is_cuda());
  // Samples of the global order consumed before step `step` (0-based) of this run: the data cursor.
  auto samples_before = [&](int64_t step) { return from.samples + (step - from.step) * batch; };
  auto save = [&](int64_t step) {
    const auto skips = run_skip_stats(*comm, *batches, from.skips);
    const auto dir = save_run_checkpoint(config, *comm, run, step, samples_before(step), skips);
    spdlog::info("saved checkpoint {}", dir);
  };

  // The validation loss (when the data has a validation set), every rank together.
  ValidationSet* validation = batches->validation();
  std::optional<ValidationResult> last_validation;
  auto validate = [&](int64_t step) {
    const auto r = validation_loss(run.model, *validation, config, *comm, device);
    spdlog::info("step {}: validation loss {:.4f} over {} samples{}", step, r.loss, r.samples,
                 r.skipped ? cat(" (", r.skipped, " bad ones left out)") : std::string());
    if (progress) progress->log_figures(step, {{"val/loss", r.loss}, {"val/samples", r.samples}});
    last_validation = r;
  };

  // --- the steps -----------------------------------------------------------------------------
  spdlog::info("training steps {}..{} of {}", from.step + 1, config.train.steps, config.train.steps);
  int64_t step = from.step, last_saved = from.dir.empty() ? -1 : from.step;
  std::vector<int64_t> bad_in_row;  // the latest steps, all not finite (the non-finite guard)
  while (step < config.train.steps) {
    const bool stop_here = stop_requested() || (options.stop_after > 0 && step - from.step + 1 >= options.stop_after);
    const int64_t first_sample = samples_before(step);
    auto outcome = trainer.run(*batches, step, first_sample, stop_here);
    ++step;
    if (outcome.stats.not_finite) {
      // Skipped on every rank (no update); the weights are still those of the step before.
      bad_in_row.push_back(step);
      spdlog::warn("step {}: loss {} / gradient norm {} not finite: skipped, no update (its global batch: samples at "
                   "positions {}..{} of the global order); {} such steps in a row, train.max_bad_steps {}",
                   step, outcome.stats.loss, outcome.stats.grad_norm, first_sample, first_sample + batch - 1,
                   bad_in_row.size(), config.train.max_bad_steps);
      if (int64_t(bad_in_row.size()) >= config.train.max_bad_steps) {
        std::string steps;
        for (const auto s : bad_in_row) steps += (steps.empty() ? "" : ", ") + std::to_string(s);
        const auto latest = find_latest_checkpoint(out_dir);
        throw Error(cat(config.source, ": steps ", steps, " in a row had a loss or gradient norm that is not finite "
                        "(train.max_bad_steps = ", config.train.max_bad_steps, "); stopped without saving; the last "
                        "checkpoint is ", latest.empty() ? std::string("(none yet)") : latest));
      }
    } else {
      bad_in_row.clear();
    }
    if (step % config.log_every_steps == 0 || step == config.train.steps)  // Progress's logging steps
      outcome.stats.skips = run_skip_stats(*comm, *batches, from.skips);
    if (progress) progress->record(outcome.stats);
    if (validation && ((config.train.val_every_steps > 0 && step % config.train.val_every_steps == 0) ||
                       step == config.train.steps))
      validate(step);
    if (step % config.checkpoint.every_steps == 0 || step == config.train.steps || outcome.stop) {
      save(step);
      last_saved = step;
    }
    if (outcome.stop) {
      spdlog::warn("stopping after step {} ({}); resume with --resume", step,
                   stop_signal() ? cat("signal ", stop_signal()) : std::string("--stop-after"));
      break;
    }
  }
  if (last_saved != step) save(step);

  // Every rank reports how the run ended, so every rank exits with the same code.
  nlohmann::json summary = {{"final_step", step}, {"stopped_early", step < config.train.steps}};
  const auto skips = run_skip_stats(*comm, *batches, from.skips);
  if (progress) {
    summary = progress->summary();
    summary["final_step"] = step;
    summary["skipped"] = skips;
    summary["checkpoint"] = find_latest_checkpoint(out_dir);
    summary["stopped_early"] = step < config.train.steps;
    if (last_validation) summary["val_loss"] = last_validation->loss;
    std::ofstream(fs::path(out_dir) / "summary.json") << summary.dump(2) << "\n";
    spdlog::info("done: {} steps, loss {:.4f} -> {:.4f}, {:.0f} tokens/s, {} samples skipped; checkpoint {}",
                 summary["steps"].get<int64_t>(), summary["first_loss"].get<double>(),
                 summary["last_loss"].get<double>(), summary["tokens_per_s"].get<double>(),
                 skips.value("skipped", int64_t(0)), summary["checkpoint"].get<std::string>());
  }
  return summary;
}

}  // namespace vrwkv::train
