// Resume anywhere, through the `visualrwkv` binary on the CPU (every build with Gloo): one global
// data order whose micro batches do not depend on the number of ranks, resume on another world
// size with the accumulation adjusted (with and without ZeRO-1), a dataset smaller than a global
// batch, the checkpoint lineage, a chaos run killed with SIGKILL at 20 random moments, and
// checkpoints that refer to the frozen weights of their init files (resume, export, changed files).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "config/run_config.h"
#include "io/tensor_file.h"
#include "model/visual_rwkv.h"
#include "run_command.h"
#include "test_paths.h"
#include "train/checkpoint.h"
#include "train/resume.h"
#include "visualrwkv_path.h"  // generated: VRWKV_BINARY

extern char** environ;

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace vrwkv;

const char* kColours[] = {"red", "green", "blue", "yellow"};

// n samples of mixed lengths around ctx_len 128: the image placeholder after 0..~110 words (so
// its aligned position differs from micro batch to micro batch, and some samples are truncated),
// every fifth text-only; `bad` more with an unknown speaker (skipped, counted).
fs::path write_mixed_data(const std::string& name, int n, int bad) {
  const auto dir = test::scratch_dir(name);
  json samples = json::array();
  for (int i = 0; i < n + bad; ++i) {
    std::string prefix;
    for (int w = 0; w < (i * 37) % 111; ++w) prefix += w % 2 ? "alpha " : "beta ";
    const bool text_only = i % 5 == 4;
    json s = {{"id", "m" + std::to_string(i)},
              {"conversations",
               {{{"from", i >= n ? "robot" : "human"},
                 {"value", prefix + (text_only ? "" : "<image>\n") + "Name colour " + std::to_string(i % 4) + "."}},
                {{"from", "gpt"}, {"value", std::string("It is ") + kColours[i % 4] + "."}}}}};
    if (!text_only) s["image"] = "p" + std::to_string(i) + ".jpg";
    samples.push_back(s);
  }
  std::ofstream(dir / "data.json") << samples.dump(1);
  return dir;
}

std::string train_command(const fs::path& data, const fs::path& out, const std::string& extra) {
  return std::string(VRWKV_BINARY) + " train " + test::source_dir() + "/configs/tiny/stage2.json" +
         " --set data.file=" + (data / "data.json").string() + " --set data.image.synthetic=true" +
         " --set checkpoint.output_dir=" + out.string() + " --set tokenizer.path=" + test::shared_dir() +
         "/data/rwkv_vocab_v20230424.txt --set data.num_workers=1 --set log.every_steps=1" +
         " --set data.max_skip_fraction=0.5 --set train.dist_timeout_s=60 " + extra;
}

#if VRWKV_WITH_GLOO  // the multi-rank helpers
// A port nobody listens on right now: bind port 0 and let the kernel choose.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// Runs `cmd` as `world` torchrun-style ranks (logs to log.rank<R>); returns their exit codes
// joined ("0 0"), or the single exit code's text for one rank (no launcher variables then).
std::string run_ranks(const std::string& cmd, int world, const fs::path& log) {
  if (world == 1) return std::to_string(test::run_command(cmd + " > " + log.string() + ".rank0 2>&1"));
  const std::string env =
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_port()) + " WORLD_SIZE=" + std::to_string(world) + " ";
  std::string script = "bash -c '";
  for (int r = 0; r < world; ++r)
    script += env + "RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) + " timeout 300 " + cmd + " > " +
              log.string() + ".rank" + std::to_string(r) + " 2>&1 & p" + std::to_string(r) + "=$!; ";
  script += "codes=; for p in";
  for (int r = 0; r < world; ++r) script += " $p" + std::to_string(r);
  script += "; do wait $p; codes=\"$codes $?\"; done; echo $codes > " + log.string() + ".codes'";
  REQUIRE(test::run_command(script) == 0);
  std::string codes;
  std::getline(std::ifstream(log.string() + ".codes"), codes);
  return codes;
}

std::string all_zero(int world) {
  std::string s;
  for (int r = 0; r < world; ++r) s += (r ? " 0" : "0");
  return s;
}

#endif

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// metrics.jsonl: step -> loss.
std::map<int64_t, double> logged_losses(const fs::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::map<int64_t, double> losses;
  for (std::string line; std::getline(in, line);) {
    const auto j = json::parse(line);
    losses[j.at("step").get<int64_t>()] = j.at("loss").get<double>();
  }
  return losses;
}

#if VRWKV_WITH_GLOO
void check_losses_close(const std::map<int64_t, double>& actual, const std::map<int64_t, double>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (const auto& [step, loss] : expected) {
    INFO("step " << step << ": " << actual.at(step) << " vs " << loss);
    CHECK(std::abs(actual.at(step) - loss) <= 1e-5);
  }
}
#endif

json summary_of(const fs::path& out) { return json::parse(std::ifstream(out / "summary.json")); }

// The step of the newest complete checkpoint in `out` (0: none).
int64_t latest_step(const fs::path& out) {
  const auto dir = train::find_latest_checkpoint(out.string());
  return dir.empty() ? 0 : json::parse(std::ifstream(fs::path(dir) / "trainer.json")).at("step").get<int64_t>();
}

// The largest step metrics.jsonl records (0: none).
int64_t logged_step(const fs::path& out) {
  const auto losses = logged_losses(out);
  return losses.empty() ? 0 : losses.rbegin()->first;
}

// A shell command started in the background (posix_spawn: this test binary has threads).
struct Background {
  pid_t pid = -1;
  // env: "NAME=value" or "".
  Background(const std::string& env, const std::string& command) {
    // The shell becomes the trainer: the kill reaches it.
    const std::string line = (env.empty() ? "" : "export " + env + "; ") + "exec " + command;
    std::vector<std::string> args = {"/bin/sh", "-c", line};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ) == 0);
  }
  // The exit code, or 128 + signal; -1 if still running (only when !block).
  int wait(bool block) {
    int status = 0;
    if (waitpid(pid, &status, block ? 0 : WNOHANG) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

}  // namespace

TEST_CASE("the schema says which keys a resume may change (one source: config::resumable)", "[resume]") {
  for (const char* key : {"train.steps", "train.grad_accumulation", "train.val_every_steps", "data.val_file",
                          "data.num_workers", "checkpoint.keep_last", "checkpoint.output_dir", "init.rwkv",
                          "log.every_steps"})
    CHECK(train::resume_may_change(key));
  for (const char* key : {"train.stage", "train.micro_batch_size", "train.precision", "data.val_fraction", "data.file",
                          "model.n_layer", "optim.lr_init", "seed", "train.steps_typo", "train"})
    CHECK_FALSE(train::resume_may_change(key));
  // docs/config.md says it too.
  const auto reference = config::markdown_reference(run_config_schema());
  CHECK_THAT(reference, test::contains("optimizer steps of the whole run (a resume may change it) |"));
  CHECK_THAT(reference, test::contains("complete checkpoints to keep (a resume may change it) |"));  // from its object
  CHECK_FALSE(reference.find("learning rate after warm-up (a resume") != std::string::npos);
}

#if VRWKV_WITH_GLOO
TEST_CASE("2 ranks x accumulation 2 resumed on 1 rank x 4 and 4 ranks x 1: the same losses, with and without "
          "ZeRO-1, on samples of mixed lengths",
          "[resume]") {
  const auto data = write_mixed_data("resume_world", 22, 2);
  const std::string common =
      "--set train.steps=4 --set train.micro_batch_size=2 --set checkpoint.every_steps=2 --set checkpoint.keep_last=5";
  for (int zero : {0, 1}) {
    INFO("zero_stage " << zero);
    const auto root = data / ("zero" + std::to_string(zero));
    fs::create_directories(root);
    const std::string z = " --set train.zero_stage=" + std::to_string(zero);
    // The uninterrupted 2-rank run (its step-2 checkpoint is where the others resume).
    const auto straight = root / "straight";
    REQUIRE(run_ranks(train_command(data, straight, common + z + " --set train.grad_accumulation=2"), 2,
                      root / "straight") == "0 0");
    const auto expected = logged_losses(straight);
    REQUIRE(expected.size() == 4);
    // One rank accumulating 4 micro batches trains the same micro batches: the same losses from step 1.
    if (zero == 0) {
      const auto one = root / "one_rank";
      REQUIRE(run_ranks(train_command(data, one, common + " --set train.grad_accumulation=4"), 1, root / "one") == "0");
      check_losses_close(logged_losses(one), expected);
    }
    for (const auto& [world, accum] : std::vector<std::pair<int, int>>{{1, 4}, {4, 1}}) {
      INFO("resumed on " << world << " ranks, accumulation " << accum);
      const auto out = root / ("resumed_on_" + std::to_string(world));
      fs::copy(straight, out, fs::copy_options::recursive);
      const std::string from = (out / "checkpoints" / "step_00000002").string();
      REQUIRE(run_ranks(train_command(data, out, common + z + " --set train.grad_accumulation=" + std::to_string(accum) +
                                                     " --resume " + from),
                        world, out / "log") == all_zero(world));
      check_losses_close(logged_losses(out), expected);
      // The abandoned step 4 of the first run was set aside, not deleted; step 4 is the new one.
      bool set_aside = false;
      for (const auto& e : fs::directory_iterator(out / "checkpoints" / "set_aside"))
        set_aside = set_aside || e.path().filename().string().rfind("step_00000004.", 0) == 0;
      CHECK(set_aside);
      CHECK(json::parse(std::ifstream(out / "checkpoints" / "step_00000004" / "trainer.json")).at("world_size") == world);
      // The skip counts cover the whole run: the same as the uninterrupted run's.
      CHECK(summary_of(out).at("skipped") == summary_of(straight).at("skipped"));
    }
    CHECK(summary_of(straight).at("skipped").at("skipped").get<int64_t>() > 0);
  }
}

TEST_CASE("a dataset smaller than one global batch trains on 2 ranks (no rank waits on an empty share)", "[resume]") {
  const auto data = write_mixed_data("resume_small", 3, 0);
  const auto out = data / "run";
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(run_ranks(train_command(data, out, "--set train.steps=3 --set train.micro_batch_size=2"), 2, data / "log") ==
          "0 0");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(120));
  CHECK(summary_of(out).at("final_step") == 3);
  // 3 steps of 4 samples from 3: the order wraps into the next epochs.
  CHECK(summary_of(out).at("skipped").at("seen") == 12);
}
#endif

TEST_CASE("chaos: killed with SIGKILL at 20 random moments, resumed with the same command line each time, the run "
          "ends with the uninterrupted run's weights bit for bit",
          "[resume]") {
  const auto data = write_mixed_data("resume_chaos", 12, 0);
  // Enough steps that 20 kills always land before the end, however fast this build trains (a run
  // that finished early would leave kills short).
  const int64_t steps = 60, every = 2;
  const std::string flags = "--set train.steps=" + std::to_string(steps) + " --set checkpoint.every_steps=" +
                            std::to_string(every) +
                            " --set checkpoint.keep_last=2 --set train.micro_batch_size=1 --set data.ctx_len=64";
  REQUIRE(test::run_command(train_command(data, data / "straight", flags) + " > " + (data / "straight.log").string() +
                            " 2>&1") == 0);

  const auto out = data / "chaos";
  const auto log = data / "chaos.log";
  // The one command line a scheduler re-runs; --resume with nothing to resume yet starts fresh.
  const std::string command = train_command(data, out, flags + " --resume") + " >> " + log.string() + " 2>&1";
  const char* seed_text = std::getenv("VRWKV_CHAOS_SEED");
  const unsigned seed = seed_text ? unsigned(std::stoul(seed_text)) : 12345u;
  INFO("VRWKV_CHAOS_SEED=" << seed);
  std::mt19937 rng(seed);
  const char* points[] = {"opened", "optimizer_written", "model_written", "before_commit", "committed"};
  int kills = 0, attempts = 0;
  for (; kills < 20 && attempts < 60; ++attempts) {
    const int64_t done = latest_step(out);
    if (done >= steps) break;  // finished early: counted below
    const int mode = attempts % 3;
    std::string env;
    if (mode == 0) {
      // Inside a checkpoint write: the next checkpoint's step, at one of the sequence's points.
      const int64_t next = (done / every + 1) * every;
      env = std::string("VRWKV_TEST_KILL_AT=") + points[rng() % 5] + ":" + std::to_string(next);
    }
    Background run(env, command);
    int code = -1;
    if (mode == 0) {
      code = run.wait(true);
    } else {
      // mode 1: during start-up or the first step; mode 2: during the steps after a new logged one.
      if (mode == 2) {
        for (int i = 0; i < 600 && logged_step(out) <= done && run.wait(false) < 0; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (mode == 1 ? 1500 : 150)));
      kill(run.pid, SIGKILL);
      code = run.wait(true);
    }
    INFO("attempt " << attempts << " (mode " << mode << ") exit " << code << "\n" << read_text(log));
    // A kill that came after the process ended is no kill; a process must never fail otherwise.
    REQUIRE((code == 128 + SIGKILL || code == 0 || code == 3));
    if (code == 128 + SIGKILL) ++kills;
  }
  CHECK(kills == 20);
  REQUIRE(test::run_command(command) == 0);
  CHECK(read_text(log).find("no checkpoint in") != std::string::npos);  // the first attempt started fresh
  CHECK(summary_of(out).at("final_step") == steps);
  const auto a = train::load_checkpoint_weights(summary_of(data / "straight").at("checkpoint").get<std::string>());
  const auto b = train::load_checkpoint_weights(summary_of(out).at("checkpoint").get<std::string>());
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    CHECK(torch::equal(a[i].second, b[i].second));
  }
  // The same batches: the logged losses agree step for step.
  CHECK(logged_losses(out) == logged_losses(data / "straight"));
}

TEST_CASE("checkpoint lineage: a step folder is swapped, never missing; newer checkpoints are set aside", "[resume]") {
  const auto out = test::scratch_dir("resume_lineage");
  auto write = [&](int64_t step, const std::string& tag) {
    const auto tmp = train::begin_checkpoint(out.string(), step);
    train::write_checkpoint_json(tmp, "trainer.json", {{"step", step}, {"tag", tag}});
    return train::commit_checkpoint(tmp);
  };
  for (int64_t step : {2, 4, 6}) write(step, "first");
  // Replacing step 4: the new contents, no temporary folder left behind.
  const auto dir = write(4, "second");
  CHECK(train::read_checkpoint_json(dir, "trainer.json").at("tag") == "second");
  CHECK_FALSE(fs::exists(out / "checkpoints" / "step_00000004.tmp"));
  // An unfinished checkpoint is not a checkpoint; the newest complete one is step 6.
  train::begin_checkpoint(out.string(), 8);
  CHECK(train::find_latest_checkpoint(out.string()) == (out / "checkpoints" / "step_00000006").string());
  // Resuming from step 2 sets 4 and 6 aside (renamed, contents kept); pruning keeps only the lineage.
  const auto moved = train::set_aside_checkpoints_after(out.string(), 2);
  REQUIRE(moved.size() == 2);
  CHECK(fs::path(moved[0]).filename().string().rfind("step_00000004.", 0) == 0);
  CHECK(train::read_checkpoint_json(moved[1], "trainer.json").at("step") == 6);
  CHECK(train::find_latest_checkpoint(out.string()) == (out / "checkpoints" / "step_00000002").string());
  train::prune_checkpoints(out.string(), 1);
  CHECK(fs::exists(out / "checkpoints" / "step_00000002"));
  CHECK_FALSE(fs::exists(out / "checkpoints" / "step_00000008.tmp"));
  CHECK(fs::exists(moved[0]));
  CHECK(fs::exists(moved[1]));
}

// --- frozen weights by reference ------------------------------------------------------------

namespace {

// Init files for the tiny config's model, as a user has them: a plain RWKV .pth in bf16 and a
// Hugging Face CLIP folder (float32, vision_model.* names).
struct InitFiles {
  fs::path rwkv, clip_folder, clip_file;
};

InitFiles write_init_files(const fs::path& dir) {
  const auto config = load_run_config(test::source_dir() + "/configs/tiny/stage1.json", {});
  torch::manual_seed(7);
  VisualRWKV source(config.model);
  io::NamedTensors rwkv, clip;
  for (const auto& item : source->named_parameters()) {
    const auto& key = item.key();
    if (key.rfind("rwkv.", 0) == 0) rwkv.emplace_back(key.substr(5), item.value().detach().to(torch::kBFloat16));
    if (key.rfind("vit.", 0) == 0) clip.emplace_back("vision_model." + key.substr(4), item.value().detach());
  }
  InitFiles f{dir / "rwkv.pth", dir / "clip", dir / "clip" / "model.safetensors"};
  fs::create_directories(f.clip_folder);
  io::save_tensors(f.rwkv.string(), rwkv);
  io::save_tensors(f.clip_file.string(), clip);
  return f;
}

// The tiny stage 1 (projector trained, RWKV and CLIP frozen) from the init files.
std::string stage1_command(const fs::path& data, const fs::path& out, const InitFiles& init, const std::string& extra) {
  std::string cmd = train_command(data, out, extra + " --set init.rwkv=" + init.rwkv.string() +
                                                 " --set init.vision=" + init.clip_folder.string());
  const std::string stage2 = "/configs/tiny/stage2.json", stage1 = "/configs/tiny/stage1.json";
  return cmd.replace(cmd.find(stage2), stage2.size(), stage1);
}

std::string newest_checkpoint(const fs::path& out) { return summary_of(out).at("checkpoint").get<std::string>(); }

std::set<std::string> names_of(const io::NamedTensors& tensors) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) names.insert(name);
  return names;
}

void require_same_tensors(const io::NamedTensors& a, const io::NamedTensors& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    CHECK(a[i].second.scalar_type() == b[i].second.scalar_type());
    CHECK(torch::equal(a[i].second, b[i].second));
  }
}

// Flips one byte inside the data of `key` in a .safetensors file (its size stays the same).
void flip_byte_of(const fs::path& file, const std::string& key) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, ' ');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  const auto begin = json::parse(header).at(key).at("data_offsets").at(0).get<uint64_t>();
  const auto at = static_cast<std::streamoff>(8 + header_len + begin + 1);
  char byte = 0;
  f.seekg(at);
  f.read(&byte, 1);
  byte ^= 0x10;
  f.seekp(at);
  f.write(&byte, 1);
  REQUIRE(f.good());
}

}  // namespace

TEST_CASE("a stage-1 checkpoint stores the projector and refers to the frozen weights its init files supplied; it "
          "resumes exactly and exports complete files",
          "[resume]") {
  const auto data = write_mixed_data("resume_frozen", 12, 0);
  const auto init = write_init_files(data / "init");
  const std::string common = "--set train.steps=6 --set checkpoint.every_steps=2 --set train.micro_batch_size=2";
  REQUIRE(test::run_command(stage1_command(data, data / "straight", init, common) + " > " +
                            (data / "straight.log").string() + " 2>&1") == 0);
  const auto checkpoint = newest_checkpoint(data / "straight");

  // model.safetensors: the projector alone; frozen.json: every other weight, by reference.
  const auto stored = io::load_tensors(checkpoint + "/model.safetensors");
  REQUIRE_FALSE(stored.empty());
  for (const auto& [name, t] : stored) CHECK(name.rfind("proj.", 0) == 0);
  const auto frozen = json::parse(std::ifstream(checkpoint + "/frozen.json"));
  CHECK(frozen.at("hash") == "vrwkv-hash64-v1");
  std::set<std::string> referenced;
  for (const auto& r : frozen.at("tensors")) {
    const std::string name = r.at("name");
    INFO(name);
    referenced.insert(name);
    const bool rwkv = name.rfind("rwkv.", 0) == 0;
    CHECK((rwkv || name.rfind("vit.", 0) == 0));
    const auto file = rwkv ? init.rwkv : init.clip_file;
    CHECK(r.at("file") == fs::absolute(file).string());
    CHECK(r.at("key") == (rwkv ? name.substr(5) : "vision_model." + name.substr(4)));
    CHECK(r.at("file_dtype") == (rwkv ? "BF16" : "F32"));
    CHECK(r.at("dtype") == "F32");
    CHECK(r.at("file_bytes").get<uint64_t>() == fs::file_size(file));
    CHECK(r.at("hash").get<std::string>().size() == 16);
  }

  // The complete weights: every tensor of the model, in its order, equal to a copy-mode run's.
  REQUIRE(test::run_command(stage1_command(data, data / "copy", init, common + " --set checkpoint.frozen=copy") +
                            " > " + (data / "copy.log").string() + " 2>&1") == 0);
  const auto copy_checkpoint = newest_checkpoint(data / "copy");
  const auto copied = io::load_tensors(copy_checkpoint + "/model.safetensors");
  CHECK(json::parse(std::ifstream(copy_checkpoint + "/frozen.json")).at("tensors").empty());
  std::set<std::string> expected_referenced = names_of(copied);
  for (const auto& [name, t] : stored) expected_referenced.erase(name);
  CHECK(referenced == expected_referenced);
  CHECK(referenced.size() + stored.size() == copied.size());
  const auto complete = train::load_checkpoint_weights(checkpoint);
  require_same_tensors(complete, copied);

  // Stopped after 3 steps (exit 3), resumed from the step-3 checkpoint: the uninterrupted run's weights and losses.
  const auto resumed = data / "resumed";
  REQUIRE(test::run_command(stage1_command(data, resumed, init, common + " --stop-after 3") + " > " +
                            (data / "resumed.log").string() + " 2>&1") == 3);
  CHECK_FALSE(json::parse(std::ifstream(resumed / "checkpoints" / "step_00000003" / "frozen.json")).at("tensors").empty());
  REQUIRE(test::run_command(stage1_command(data, resumed, init, common + " --resume") + " >> " +
                            (data / "resumed.log").string() + " 2>&1") == 0);
  // The resumed run keeps referring to the init files.
  CHECK(io::load_tensors(newest_checkpoint(resumed) + "/model.safetensors").size() == stored.size());
  require_same_tensors(train::load_checkpoint_weights(newest_checkpoint(resumed)), complete);
  CHECK(logged_losses(resumed) == logged_losses(data / "straight"));

  // Export writes complete files: the same as from the copy-mode checkpoint.
  for (const auto& [from, to] : {std::pair{checkpoint, data / "export_ref"}, {copy_checkpoint, data / "export_copy"}})
    REQUIRE(test::run_command(std::string(VRWKV_BINARY) + " export " + from + " " + to.string() +
                              " --dtype fp32 --name tiny > " + (data / "export.log").string() + " 2>&1") == 0);
  for (const char* file : {"tiny.safetensors", "tiny_rwkv.pth", "tiny_visual.pth"}) {
    INFO(file);
    const auto a = io::load_tensors((data / "export_ref" / file).string());
    CHECK(a.size() > stored.size());
    require_same_tensors(a, io::load_tensors((data / "export_copy" / file).string()));
  }
  CHECK(io::load_tensors((data / "export_ref" / "tiny.safetensors").string()).size() == copied.size());
}

TEST_CASE("a changed, resized or missing source file makes resume fail with a message naming it and the tensor",
          "[resume]") {
  const auto data = write_mixed_data("resume_frozen_changed", 8, 0);
  const auto init = write_init_files(data / "init");
  const auto out = data / "run";
  const std::string common = "--set train.steps=4 --set checkpoint.every_steps=2 --set train.micro_batch_size=2";
  REQUIRE(test::run_command(stage1_command(data, out, init, common + " --stop-after 2") + " > " +
                            (data / "first.log").string() + " 2>&1") == 3);
  const auto checkpoint = (out / "checkpoints" / "step_00000002").string();
  const auto resume = [&](const std::string& log) {
    return test::run_command(stage1_command(data, out, init, common + " --resume") + " > " + (data / log).string() +
                             " 2>&1");
  };
  const auto keep = data / "kept";
  fs::create_directories(keep);
  fs::copy_file(init.rwkv, keep / "rwkv.pth");
  fs::copy_file(init.clip_file, keep / "model.safetensors");

  const auto restore = [&] {
    fs::copy_file(keep / "rwkv.pth", init.rwkv, fs::copy_options::overwrite_existing);
    fs::copy_file(keep / "model.safetensors", init.clip_file, fs::copy_options::overwrite_existing);
  };

  // A different size.
  std::ofstream(init.rwkv, std::ios::app | std::ios::binary) << 'x';
  CHECK(resume("resized.log") != 0);
  auto text = read_text(data / "resized.log");
  CHECK_THAT(text, test::contains(fs::absolute(init.rwkv).string()));
  CHECK_THAT(text, test::contains("frozen tensor 'rwkv."));
  CHECK_THAT(text, test::contains("size changed"));
  CHECK_THROWS_WITH(train::load_checkpoint_weights(checkpoint), test::contains(checkpoint));
  restore();

  // The same size, one byte of one tensor changed.
  flip_byte_of(init.clip_file, "vision_model.encoder.layers.0.mlp.fc1.weight");
  CHECK(fs::file_size(init.clip_file) == fs::file_size(keep / "model.safetensors"));
  CHECK(resume("changed.log") != 0);
  text = read_text(data / "changed.log");
  CHECK_THAT(text, test::contains(fs::absolute(init.clip_file).string()));
  CHECK_THAT(text, test::contains("frozen tensor 'vit.encoder.layers.0.mlp.fc1.weight'"));
  CHECK_THAT(text, test::contains("values changed"));
  CHECK_THROWS_WITH(train::load_checkpoint_weights(checkpoint),
                    test::contains("'vit.encoder.layers.0.mlp.fc1.weight'") && test::contains("values changed"));
  restore();

  // Missing.
  fs::remove(init.rwkv);
  CHECK(resume("missing.log") != 0);
  text = read_text(data / "missing.log");
  CHECK_THAT(text, test::contains(fs::absolute(init.rwkv).string()));
  CHECK_THAT(text, test::contains("is missing"));
  restore();

  // Restored, the same checkpoint resumes: the failures above came from the changes alone.
  CHECK(resume("restored.log") == 0);
  CHECK(summary_of(out).at("final_step") == 4);
}
