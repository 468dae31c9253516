// The training loop, top to bottom: ranks and device, model and weights, what is trained, the
// optimizer, the data, resume, then steps (micro batches, gradient sync, clipping, AdamW,
// progress, checkpoints) until the last step or a stop signal.
#include "train/trainer.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "base/error.h"
#include "dist/communicator.h"
#include "dist/dist_env.h"
#include "dist/grad_sync.h"
#include "dist/zero.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "model/loss.h"
#include "model/visual_rwkv.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/model_setup.h"
#include "train/progress.h"
#include "train/schedule.h"
#include "train/stop_signal.h"

namespace vrwkv::train {
namespace fs = std::filesystem;
namespace {

constexpr double kH100BF16PeakFlops = 790e12;  // measured matrix throughput (SPEC section 10)

void setup_logging(const std::string& output_dir, int rank) {
  std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
  if (rank == 0) sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(output_dir + "/train.log"));
  auto logger = std::make_shared<spdlog::logger>("train", sinks.begin(), sinks.end());
  logger->set_pattern(rank == 0 ? "[%Y-%m-%d %H:%M:%S] %^%l%$ %v" : fmt::format("[rank {}] %^%l%$ %v", rank));
  logger->set_level(rank == 0 ? spdlog::level::info : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// Differences between two resolved configs, as key paths.
void config_differences(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
                        std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items())
      config_differences(v, b.contains(k) ? b.at(k) : nlohmann::json(), path.empty() ? k : path + "." + k, out);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) out.push_back(path.empty() ? k : path + "." + k);
    return;
  }
  if (a != b && !resume_may_change(path)) out.push_back(path);
}

// Training FLOPs per sequence position: 6 per trained-or-backpropagated weight of the language
// model (the embedding is a lookup), plus the frozen tower's forward spread over the positions.
double flops_per_token(const VisualRWKV& model, int64_t ctx_len) {
  double lm = 0, vision = 0;
  for (const auto& item : model->rwkv->named_parameters())
    if (item.key().rfind("emb.", 0) != 0) lm += item.value().numel();
  for (const auto& p : model->vit->parameters()) vision += p.numel();
  const double patches = double(model->config.vision.num_patches() + 1);
  return 6 * lm + 2 * vision * patches / double(std::max<int64_t>(1, ctx_len));
}

// One host read for the whole norm; the gradients are GradientSync's float32 sums.
double global_grad_norm(const std::vector<torch::Tensor>& grads) {
  std::vector<torch::Tensor> squares;
  for (const auto& g : grads) squares.push_back(g.norm().square());
  return squares.empty() ? 0.0 : torch::stack(squares).sum().sqrt().item<double>();
}

}  // namespace

bool resume_may_change(const std::string& key) {
  for (const char* prefix : {"train.steps", "checkpoint.", "log.", "data.num_workers", "data.prefetch_batches",
                             "train.dist_timeout_s", "init."})
    if (key.rfind(prefix, 0) == 0) return true;
  return false;
}

nlohmann::json run_training(const RunConfig& config, const TrainOptions& options,
                            const BatchSourceFactory& make_batches) {
  // --- ranks, device, logging -------------------------------------------------------------
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

  // --- resume point ------------------------------------------------------------------------
  std::string resume_dir;
  nlohmann::json resumed;
  if (!options.resume.empty()) {
    resume_dir = resolve_checkpoint(options.resume == "latest" ? out_dir : options.resume);
    resumed = read_checkpoint_json(resume_dir, "trainer.json");
    std::vector<std::string> changed;
    config_differences(resumed.at("config"), config.resolved, "", changed);
    if (resumed.at("world_size").get<int>() != env.world_size) changed.push_back("world size");
    if (!changed.empty()) {
      std::string list;
      for (const auto& c : changed) list += (list.empty() ? "" : ", ") + c;
      VRWKV_CHECK(options.force, resume_dir, ": the config changes the run (", list,
                  "); resume with --force to accept that");
      spdlog::warn("resuming with a changed run ({}), as forced", list);
    }
    spdlog::info("resuming from {} at step {}", resume_dir, resumed.at("step").get<int64_t>());
  }

  // --- model: weights, what is trained, precision --------------------------------------------
  torch::manual_seed(config.seed);
  VisualRWKV model(config.model);
  if (resume_dir.empty()) {
    load_initial_weights(model, config.init);
  } else {
    const auto path = (fs::path(resume_dir) / "model.safetensors").string();
    io::load_into(*model, io::load_tensors(path), path, {"rwkv.", "vit.", "proj."});
  }
  model->rwkv->checkpoint_blocks = config.train.grad_checkpointing;
  const auto trained = apply_freezing(model, config.train);
  model->to(device);
  {
    // Every rank starts from rank 0's weights.
    std::vector<torch::Tensor> all;
    for (auto& p : model->parameters()) all.push_back(p.data());
    comm->broadcast(all, 0);
  }
  int64_t n_trained = 0;
  for (const auto& [name, p] : trained) n_trained += p.numel();
  spdlog::info("stage {}: training {} tensors, {} parameters", config.train.stage, trained.size(), n_trained);

  // --- optimizer (float32 masters made before a bf16 cast), ZeRO-1 ownership -----------------
  std::vector<int> owners(trained.size(), env.rank);
  io::NamedTensors owned = trained;
  if (config.train.zero_stage == 1) {
    owners = dist::partition_owners(trained, env.world_size);
    owned.clear();
    for (size_t i = 0; i < trained.size(); ++i)
      if (owners[i] == env.rank) owned.push_back(trained[i]);
  }
  AdamW optimizer(owned, {config.optim.beta1, config.optim.beta2, config.optim.eps, config.optim.weight_decay,
                          {{"vit.", config.optim.vision_lr_scale}}});
  const std::string optimizer_file =
      cat("optimizer.rank", config.train.zero_stage == 1 ? env.rank : 0, ".safetensors");
  if (!resume_dir.empty()) {
    const auto path = (fs::path(resume_dir) / optimizer_file).string();
    optimizer.load_state(io::load_tensors(path), path);
  }
  if (config.train.precision == "bf16") model->to(torch::kBFloat16);
  if (!resume_dir.empty()) {
    // Nothing in a step draws random numbers today; the generator is restored so that nothing
    // added later (dropout, sampling) silently breaks exact resume.
    const auto rng = io::load_tensors((fs::path(resume_dir) / "rng.safetensors").string());
    auto generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(io::find_tensor(rng, "cpu"));
  }

  // --- data --------------------------------------------------------------------------------
  int64_t start_step = 0, batches_done = 0;
  BatchSourceSpec batch_spec{config, env.rank, env.world_size};
  if (!resume_dir.empty()) {
    start_step = resumed.at("step");
    batches_done = resumed.at("batches");
    batch_spec.resume_cursor = resumed.at("cursors").at(env.rank);
    batch_spec.batches_done = batches_done;
  }
  const auto batches = make_batches(batch_spec);
  spdlog::info("data: {}, {} per rank per step", batches->describe(),
               config.train.micro_batch_size * config.train.grad_accumulation);

  dist::GradientSync grad_sync(comm, trained, static_cast<size_t>(config.train.bucket_mb) << 20);
  const LrSchedule schedule{config.optim.lr_init, config.optim.lr_final, config.optim.warmup_steps,
                            config.train.steps};
  std::optional<Progress> progress;  // rank 0 reports for everyone
  if (comm->is_main())
    progress.emplace((fs::path(out_dir) / "metrics.jsonl").string(), start_step, config.train.steps,
                     config.log_every_steps, flops_per_token(model, config.data.ctx_len), kH100BF16PeakFlops,
                     device.is_cuda());

  // Writes a checkpoint of the state after `step` steps; every rank takes part.
  auto save_checkpoint = [&](int64_t step) {
    const auto cursors = comm->all_gather_strings(batches->cursor().dump());
    const std::string tmp = (fs::path(checkpoint_root(out_dir)) / (checkpoint_name(step) + ".tmp")).string();
    if (comm->is_main()) begin_checkpoint(out_dir, step);
    comm->barrier();
    // Under ZeRO-1 each rank holds a different share of the optimizer state; otherwise rank 0's is all.
    if (config.train.zero_stage == 1 || comm->is_main()) write_checkpoint_tensors(tmp, optimizer_file, optimizer.state());
    comm->barrier();
    if (comm->is_main()) {
      io::NamedTensors weights;
      for (const auto& item : model->named_parameters()) weights.emplace_back(item.key(), item.value().detach().cpu());
      write_checkpoint_tensors(tmp, "model.safetensors", weights);
      write_checkpoint_tensors(tmp, "rng.safetensors", {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}});
      // Fault injection for the crash-safety test: die half-way through writing this checkpoint.
      if (const char* kill_at = std::getenv("VRWKV_FAULT_KILL_IN_CHECKPOINT"); kill_at && std::atoll(kill_at) == step)
        std::raise(SIGKILL);
      nlohmann::json state = {{"step", step},
                              {"batches", batches_done},
                              {"world_size", env.world_size},
                              {"cursors", nlohmann::json::array()},
                              {"skipped", batches->skip_stats()},
                              {"config", config.resolved}};
      for (const auto& c : cursors) state["cursors"].push_back(nlohmann::json::parse(c));
      write_checkpoint_json(tmp, "trainer.json", state);
      const auto final_dir = commit_checkpoint(tmp);
      prune_checkpoints(out_dir, config.checkpoint.keep_last);
      spdlog::info("saved checkpoint {}", final_dir);
    }
    comm->barrier();
  };

  // --- the loop ----------------------------------------------------------------------------
  spdlog::info("training steps {}..{} of {}", start_step + 1, config.train.steps, config.train.steps);
  int64_t step = start_step, last_saved = resume_dir.empty() ? -1 : start_step;
  const int64_t accum = config.train.grad_accumulation;
  std::vector<torch::Tensor> owned_grads;  // the optimizer's share of grad_sync.gradients()
  for (size_t i = 0; i < trained.size(); ++i)
    if (owners[i] == env.rank) owned_grads.push_back(grad_sync.gradients()[i]);
  while (step < config.train.steps) {
    grad_sync.begin_step();
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    int64_t tokens = 0, samples = 0;
    for (int64_t micro = 0; micro < accum; ++micro) {
      const auto batch = batches->next();
      ++batches_done;
      if (micro == accum - 1) grad_sync.arm();
      const auto features = model->encode_images(batch.images.to(device));
      const auto e = model->embed(batch.input_ids, batch.labels, features, config.data.ctx_len);
      // The head's product happens inside the loss, chunk by chunk: no [B, T, V] logits.
      const auto hidden = model->forward_hidden(e.embeds, config.scan_mode, e.layout.img_start, e.layout.img_end);
      const auto loss = chunked_training_loss(hidden, model->rwkv->head->weight, e.layout.labels);
      (loss / double(accum)).backward();
      grad_sync.after_backward();
      loss_sum += loss.detach();  // summed on the device: no host sync per micro batch
      tokens += e.embeds.size(0) * e.embeds.size(1);
      samples += e.embeds.size(0);
    }
    grad_sync.finish();
    const double grad_norm = global_grad_norm(grad_sync.gradients());
    if (config.optim.grad_clip > 0 && grad_norm > config.optim.grad_clip) {
      torch::NoGradGuard no_grad;
      for (const auto& g : grad_sync.gradients()) g.mul_(config.optim.grad_clip / (grad_norm + 1e-6));
    }
    const double lr = schedule.at(step);
    optimizer.step(lr, owned_grads);
    if (config.train.zero_stage == 1) dist::broadcast_from_owners(*comm, trained, owners);
    ++step;

    // One small all-reduce carries the step's statistics and whether any rank was asked to stop.
    const bool stop_here = stop_requested() || (options.stop_after > 0 && step - start_step >= options.stop_after);
    const auto s = comm->all_reduce_sum(
        {loss_sum.item<double>() / accum, double(tokens), double(samples), stop_here ? 1.0 : 0.0});
    if (progress)
      progress->record(
          {step, s[0] / env.world_size, lr, grad_norm, int64_t(s[1]), int64_t(s[2]), batches->skip_stats()});
    const bool stopping = s[3] > 0;
    if (step % config.checkpoint.every_steps == 0 || step == config.train.steps || stopping) {
      save_checkpoint(step);
      last_saved = step;
    }
    if (stopping) {
      spdlog::warn("stopping after step {} ({}); resume with --resume", step,
                   stop_signal() ? cat("signal ", stop_signal()) : std::string("--stop-after"));
      break;
    }
  }
  if (last_saved != step) save_checkpoint(step);

  // Every rank reports how the run ended, so every rank exits with the same code.
  nlohmann::json summary = {{"final_step", step}, {"stopped_early", step < config.train.steps}};
  if (progress) {
    summary = progress->summary();
    summary["final_step"] = step;
    summary["skipped"] = batches->skip_stats();
    summary["checkpoint"] = find_latest_checkpoint(out_dir);
    summary["stopped_early"] = step < config.train.steps;
    std::ofstream(fs::path(out_dir) / "summary.json") << summary.dump(2) << "\n";
    spdlog::info("done: {} steps, loss {:.4f} -> {:.4f}, {:.0f} tokens/s, {} samples skipped; checkpoint {}",
                 summary["steps"].get<int64_t>(), summary["first_loss"].get<double>(),
                 summary["last_loss"].get<double>(), summary["tokens_per_s"].get<double>(),
                 summary["skipped"].value("skipped", int64_t(0)),
                 summary["checkpoint"].get<std::string>());
  }
  return summary;
}

}  // namespace vrwkv::train
