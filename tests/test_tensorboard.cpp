// TensorBoard event files: the CRC-32C against its published check values, TFRecord framing (a
// torn or corrupt tail dropped, not fatal), the Event encoding byte for byte, trimming at a
// resume, Progress's records mirrored as scalars, and the MFU peak lookup by device name.
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "base/build_config.h"
#include "catch_compat.h"
#include "io/crc32c.h"
#include "io/tfrecord.h"
#include "test_paths.h"
#include "train/mfu.h"
#include "train/progress.h"
#include "train/tensorboard.h"
#include "train/tensorboard_event.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace vrwkv;

std::string bytes_of(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(char(v));
  return s;
}

void append_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

// (tag, step) -> value of every scalar event in the files of `dir`, counting repeats.
struct Scalars {
  std::map<std::pair<std::string, int64_t>, float> value;
  std::map<std::pair<std::string, int64_t>, int> count;
  int file_versions = 0;
};

Scalars read_scalars(const fs::path& dir) {
  Scalars out;
  for (const auto& file : train::event_files(dir.string())) {
    const auto records = io::read_tfrecords(file);
    REQUIRE_FALSE(records.torn);
    for (const auto& record : records.records) {
      const auto event = train::decode_event(record, file);
      if (!event.file_version.empty()) ++out.file_versions;
      for (const auto& [tag, v] : event.scalars) {
        out.value[{tag, event.step}] = v;
        ++out.count[{tag, event.step}];
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("CRC-32C: the published check values", "[tensorboard]") {
  CHECK(io::crc32c("123456789") == 0xE3069283u);
  CHECK(io::crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(io::crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  CHECK(io::crc32c("") == 0u);
  // Continuing a CRC over a second part gives the CRC of the whole.
  CHECK(io::crc32c("6789", 4, io::crc32c("12345")) == 0xE3069283u);
}

TEST_CASE("TFRecord framing: length, masked CRCs, data; a torn or corrupt tail is dropped", "[tensorboard]") {
  const std::string data = "hello";
  const auto framed = io::tfrecord_frame(data);
  REQUIRE(framed.size() == 16 + data.size());
  CHECK(framed.substr(0, 8) == bytes_of({5, 0, 0, 0, 0, 0, 0, 0}));
  CHECK(framed.substr(12, 5) == data);
  const uint32_t crc = io::crc32c(data);
  const uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  CHECK(io::masked_crc32c(data) == masked);
  CHECK(framed.substr(17, 4) == bytes_of({int(masked & 0xFF), int((masked >> 8) & 0xFF), int((masked >> 16) & 0xFF),
                                          int(masked >> 24)}));

  const auto dir = test::scratch_dir("tfrecord");
  const auto path = dir / "records";
  for (const auto& r : std::vector<std::string>{"one", "", std::string(300, 'x')})
    append_bytes(path, io::tfrecord_frame(r));
  auto read = io::read_tfrecords(path.string());
  REQUIRE(read.records == std::vector<std::string>{"one", "", std::string(300, 'x')});
  CHECK_FALSE(read.torn);

  // Cut short anywhere inside a fourth record: the three whole ones survive.
  const auto fourth = io::tfrecord_frame("the fourth");
  for (size_t cut : {size_t(1), size_t(8), size_t(12), size_t(15), fourth.size() - 1}) {
    fs::copy_file(path, dir / "torn", fs::copy_options::overwrite_existing);
    append_bytes(dir / "torn", fourth.substr(0, cut));
    read = io::read_tfrecords((dir / "torn").string());
    INFO("cut after " << cut << " bytes");
    CHECK(read.records.size() == 3);
    CHECK(read.torn);
  }
  // A flipped data byte fails the data CRC; a flipped length byte fails the length CRC.
  for (size_t at : {size_t(13), size_t(2)}) {
    auto bad = fourth;
    bad[at] ^= 0x20;
    fs::copy_file(path, dir / "bad", fs::copy_options::overwrite_existing);
    append_bytes(dir / "bad", bad);
    read = io::read_tfrecords((dir / "bad").string());
    CHECK(read.records.size() == 3);
    CHECK(read.torn);
  }
  CHECK_THROWS_WITH(io::read_tfrecords((dir / "missing").string()), test::contains("missing: cannot open"));
}

TEST_CASE("Event encoding: protobuf wire format byte for byte, and back", "[tensorboard]") {
  train::TensorBoardEvent event;
  event.wall_time = 0;
  event.step = 3;
  event.scalars = {{"a", 1.0f}};
  // wall_time (field 1, fixed64), step (2, varint), summary (5) { value (1) { tag (1) "a", simple_value (2) } }.
  const auto expected = bytes_of({0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x03, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 'a',
                                  0x15, 0x00, 0x00, 0x80, 0x3F});
  CHECK(train::encode_event(event) == expected);

  train::TensorBoardEvent first;
  first.wall_time = 1.5e9;
  first.file_version = "brain.Event:2";
  const auto back = train::decode_event(train::encode_event(first), "x");
  CHECK(back.wall_time == 1.5e9);
  CHECK(back.file_version == "brain.Event:2");
  CHECK(back.scalars.empty());

  event.step = 300000000000;  // a multi-byte varint
  event.scalars = {{"train/loss", 2.5f}, {"perf/mfu", -0.25f}};
  const auto round = train::decode_event(train::encode_event(event), "x");
  CHECK(round.step == 300000000000);
  CHECK(round.scalars == event.scalars);
  CHECK_THROWS_WITH(train::decode_event(expected.substr(0, expected.size() - 2), "some.file"),
                    test::contains("some.file: malformed event"));
}

TEST_CASE("TensorBoard files: the writer's file_version first, trimming keeps steps <= the resumed one once",
          "[tensorboard]") {
  const auto dir = test::scratch_dir("tensorboard_trim") / "tensorboard";
  std::string first_file;
  {
    train::TensorBoardWriter writer(dir.string());
    first_file = writer.path();
    CHECK(fs::path(first_file).filename().string().rfind("events.out.tfevents.", 0) == 0);
    for (int step = 1; step <= 6; ++step) {
      writer.scalar("train/loss", step, 10.0 - step);
      writer.scalar("train/lr", step, 0.1 * step);
      writer.flush();
    }
  }
  const auto records = io::read_tfrecords(first_file);
  REQUIRE(records.records.size() == 13);
  CHECK(train::decode_event(records.records[0], first_file).file_version == train::kEventFileVersion);

  // Killed mid-write: a torn record at the end.
  append_bytes(first_file, io::tfrecord_frame(train::encode_event({0, 7, "", {{"train/loss", 3.0f}}})).substr(0, 20));
  const auto trimmed = train::trim_tensorboard(dir.string(), 4);
  REQUIRE(train::event_files(dir.string()) == std::vector<std::string>{trimmed});
  auto seen = read_scalars(dir);
  CHECK(seen.file_versions == 1);
  CHECK(seen.count.size() == 8);
  for (int step = 1; step <= 4; ++step) {
    CHECK(seen.count[{"train/loss", step}] == 1);
    CHECK(seen.value[{"train/loss", step}] == float(10.0 - step));
  }
  CHECK(seen.count.count({"train/loss", 5}) == 0);

  // The resumed run's writer sorts after the trimmed file, even within the same second.
  {
    train::TensorBoardWriter writer(dir.string());
    CHECK(writer.path() > trimmed);
    writer.scalar("train/loss", 5, 0.5);
    writer.flush();
  }
  seen = read_scalars(dir);
  CHECK(seen.file_versions == 2);
  CHECK(seen.count[{"train/loss", 5}] == 1);
  CHECK(train::trim_tensorboard((dir / "none").string(), 1).empty());
}

TEST_CASE("Progress: each metrics.jsonl record is also a set of TensorBoard scalars; MFU only with a peak",
          "[tensorboard]") {
  const auto out = test::scratch_dir("tensorboard_progress");
  const bool on_gpu = !VRWKV_WITH_CUDA || torch::cuda::is_available();
  for (const double peak : {0.0, 1e12}) {
    fs::remove_all(out / "tensorboard");
    fs::remove(out / "metrics.jsonl");
    {
      // on_gpu with a peak of 0 (an unknown device): no MFU, never a wrong one. (A CUDA build on a
      // machine without a GPU cannot ask for GPU memory, so it reports as on the CPU.)
      train::Progress progress((out / "metrics.jsonl").string(), 0, 3, 1, 1000.0, peak, on_gpu);
      for (int64_t step = 1; step <= 3; ++step) {
        train::StepStats s;
        s.step = step;
        s.loss = 4.0 / step;
        s.lr = 0.01;
        s.grad_norm = 1.5;
        s.tokens = 512;
        s.samples = 4;
        s.skips = {{"seen", 4 * step}, {"skipped", 1}, {"by_reason", {{"too_long", 1}}}};
        progress.record(s);
      }
      progress.log_figures(3, {{"val/loss", 1.25}, {"note", "text is not a scalar"}});
    }
    std::vector<json> lines;
    std::ifstream in(out / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 4);
    const bool has_mfu = on_gpu && peak > 0;
    CHECK(lines[0].contains("mfu") == has_mfu);
    if (has_mfu) CHECK(lines[0]["mfu"].get<double>() == Approx(lines[0]["tokens_per_s"].get<double>() * 1000 / peak));
    CHECK(lines[3] == json({{"step", 3}, {"val/loss", 1.25}, {"note", "text is not a scalar"}}));

    auto seen = read_scalars(out / "tensorboard");
    CHECK(seen.file_versions == 1);
    const std::map<std::string, std::string> tags = {
        {"loss", "train/loss"}, {"lr", "train/lr"}, {"grad_norm", "train/grad_norm"},
        {"tokens_per_s", "perf/tokens_per_s"}, {"samples_per_s", "perf/samples_per_s"},
        {"memory_bytes", "perf/memory_bytes"}, {"elapsed_s", "time/elapsed_s"}, {"eta_s", "time/eta_s"}};
    for (const auto& line : lines) {
      const int64_t step = line["step"];
      for (const auto& [key, tag] : tags) {
        if (!line.contains(key)) continue;
        INFO(tag << " at step " << step);
        CHECK(seen.count[{tag, step}] == 1);
        CHECK(seen.value[{tag, step}] == float(line[key].get<double>()));
      }
    }
    CHECK(seen.value[{"data/skipped/seen", 2}] == 8.0f);
    CHECK(seen.value[{"data/skipped/skipped", 2}] == 1.0f);
    CHECK(seen.value[{"data/skipped/by_reason/too_long", 3}] == 1.0f);
    CHECK(seen.value[{"val/loss", 3}] == 1.25f);
    CHECK(seen.count.count({"perf/mfu", 1}) == (has_mfu ? 1u : 0u));
    CHECK(seen.value[{"train/bad_steps", 3}] == 0.0f);
    // 9 figures (bad_steps included), skips 3, mfu where known, at each of 3 steps; then val/loss.
    CHECK(seen.count.size() == size_t(3 * (9 + 3 + has_mfu) + 1));
  }
}

TEST_CASE("MFU peaks: datasheet dense peaks by CUDA device name and precision; unknown: none", "[tensorboard]") {
  using train::peak_flops;
  CHECK(peak_flops("NVIDIA A100-SXM4-80GB", Precision::kBf16) == 312e12);
  CHECK(peak_flops("NVIDIA A100 80GB PCIe", Precision::kFp32) == 19.5e12);
  CHECK(peak_flops("NVIDIA H100 80GB HBM3", Precision::kBf16) == 989.4e12);
  CHECK(peak_flops("NVIDIA H100 PCIe", Precision::kBf16) == 756e12);
  CHECK(peak_flops("NVIDIA H100 NVL", Precision::kBf16) == 835e12);
  CHECK(peak_flops("NVIDIA H100 NVL", Precision::kFp32) == 60e12);
  CHECK(peak_flops("NVIDIA H200", Precision::kBf16) == 989.4e12);
  CHECK(peak_flops("NVIDIA H200 NVL", Precision::kBf16) == 835e12);
  CHECK(peak_flops("NVIDIA L40S", Precision::kBf16) == 362.05e12);
  CHECK(peak_flops("NVIDIA A10", Precision::kBf16) == 125e12);
  CHECK(peak_flops("NVIDIA L4", Precision::kBf16) == 121e12);
  CHECK(peak_flops("NVIDIA GeForce RTX 4090", Precision::kBf16) == 165.2e12);
  CHECK(peak_flops("Tesla V100-SXM2-16GB", Precision::kFp32) == 15.7e12);
  CHECK(peak_flops("Tesla V100-PCIE-32GB", Precision::kFp32) == 14e12);
  // No bf16 tensor cores on a V100; unknown devices, an unknown form factor.
  CHECK_FALSE(peak_flops("Tesla V100-SXM2-16GB", Precision::kBf16));
  CHECK_FALSE(peak_flops("NVIDIA A10G", Precision::kBf16));
  CHECK_FALSE(peak_flops("NVIDIA H100", Precision::kBf16));
  CHECK_FALSE(peak_flops("NVIDIA L40", Precision::kBf16));
  CHECK_FALSE(peak_flops("NVIDIA GeForce RTX 3090", Precision::kBf16));
  CHECK_FALSE(peak_flops("", Precision::kBf16));
  CHECK_FALSE(train::device_peak_flops(torch::Device("cpu"), Precision::kBf16));
}
