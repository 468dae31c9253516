// Checkpoint I/O: safetensors and torch.save round trips, Python interoperability, hostile input,
// name canonicalisation and loading into modules, tensor hashes.
#include "catch_compat.h"
#include "run_command.h"
#include "test_paths.h"

#include "../app/commands.h"
#include "base/error.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"
#include "io/tensor_hash.h"
#include "io/torch_file.h"


#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using vrwkv::io::NamedTensors;

namespace {

// Same dtype, shape and bit pattern (NaN == NaN, -0.0 != 0.0).
bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto ca = a.contiguous(), cb = b.contiguous();
  const auto bytes = static_cast<std::size_t>(ca.numel()) * ca.element_size();
  return bytes == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), bytes) == 0;
}

std::vector<std::string> names_of(const NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& item : tensors) names.push_back(item.first);
  return names;
}

std::map<std::string, torch::Tensor> as_map(const NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

void require_same(const NamedTensors& expected, const NamedTensors& actual, bool same_order) {
  REQUIRE(expected.size() == actual.size());
  if (same_order) REQUIRE(names_of(expected) == names_of(actual));
  const auto actual_map = as_map(actual);
  for (const auto& [name, tensor] : expected) {
    INFO("key " << name);
    const auto it = actual_map.find(name);
    REQUIRE(it != actual_map.end());
    CHECK(bitwise_equal(tensor, it->second));
  }
}

// The vrwkv::Error message of f(); fails the test when f() does not throw one.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const vrwkv::Error& e) {
    return e.what();
  }
  FAIL("expected a vrwkv::Error");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

NamedTensors sample_tensors() {
  torch::manual_seed(7);
  auto f32 = torch::randn({4, 5});
  f32.view({-1})[0].fill_(std::numeric_limits<float>::quiet_NaN());
  f32.view({-1})[1].fill_(-0.0f);
  f32.view({-1})[2].fill_(std::numeric_limits<float>::infinity());
  return {
      {"a.f32", f32},
      {"b.f16", torch::randn({3, 7}).to(torch::kFloat16)},
      {"c.bf16", torch::randn({2, 3, 4}).to(torch::kBFloat16)},
      {"d.i64", torch::arange(-5, 7, torch::kInt64).reshape({3, 4})},
      {"e.f32_3d", torch::randn({2, 3, 5})},
      {"f.scalar", torch::tensor(3.5)},
      {"g.empty", torch::zeros({0, 3})},
  };
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file built by hand: length prefix (or a lie about it), header text, data.
void write_raw_safetensors(const fs::path& path, const std::string& header, const std::string& data,
                           uint64_t claimed_length = std::numeric_limits<uint64_t>::max()) {
  uint64_t len = claimed_length == std::numeric_limits<uint64_t>::max() ? header.size()
                                                                         : claimed_length;
  std::string bytes;
  for (int i = 0; i < 8; ++i, len >>= 8) bytes += static_cast<char>(len & 0xff);
  write_bytes(path, bytes + header + data);
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string interop_script() {
  return vrwkv::test::source_dir() + "/tests/python/check_interop.py";
}

std::string fixture(const std::string& name) {
  return vrwkv::test::shared_dir() + "/fixtures/model_dev/" + name;
}

}  // namespace

TEST_CASE("safetensors round trip is bitwise identical", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_st_roundtrip");
  auto tensors = sample_tensors();
  // Non-contiguous inputs: a transpose and a strided slice.
  tensors.emplace_back("h.transposed", torch::arange(12, torch::kFloat32).reshape({3, 4}).t());
  tensors.emplace_back("i.slice", torch::arange(40, torch::kInt64).reshape({5, 8}).slice(1, 1, 7, 2));
  REQUIRE_FALSE(tensors[7].second.is_contiguous());
  REQUIRE_FALSE(tensors[8].second.is_contiguous());

  const auto path = (dir / "t.safetensors").string();
  vrwkv::io::write_safetensors(path, tensors, {{"format", "pt"}, {"producer", "visualrwkv"}});

  std::map<std::string, std::string> metadata;
  const auto back = vrwkv::io::read_safetensors(path, &metadata);
  require_same(tensors, back, /*same_order=*/true);
  CHECK(metadata == std::map<std::string, std::string>{{"format", "pt"}, {"producer", "visualrwkv"}});

  // Header padded with spaces so the data section starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  CHECK(header_len % 8 == 0);
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  CHECK(header.front() == '{');
}

TEST_CASE("safetensors stores every supported dtype", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_st_dtypes");
  const NamedTensors tensors = {
      {"f64", torch::randn({3}, torch::kFloat64)},
      {"f32", torch::randn({3})},
      {"f16", torch::randn({3}).to(torch::kFloat16)},
      {"bf16", torch::randn({3}).to(torch::kBFloat16)},
      {"i64", torch::tensor({-1, 0, std::numeric_limits<int>::max()}, torch::kInt64)},
      {"i32", torch::tensor({-7, 0, 9}, torch::kInt32)},
      {"i16", torch::tensor({-7, 0, 9}, torch::kInt16)},
      {"i8", torch::tensor({-7, 0, 9}, torch::kInt8)},
      {"u8", torch::tensor({0, 128, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
  };
  const auto path = (dir / "all.safetensors").string();
  vrwkv::io::write_safetensors(path, tensors);
  require_same(tensors, vrwkv::io::read_safetensors(path), true);
  CHECK(vrwkv::io::safetensors_dtype_name(torch::kBFloat16) == "BF16");

  const auto msg = error_of([&] {
    vrwkv::io::write_safetensors((dir / "c.safetensors").string(),
                                 {{"complex", torch::zeros({2}, torch::kComplexFloat)}});
  });
  CHECK(contains(msg, "complex"));
}

TEST_CASE("torch file round trip", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_pth_roundtrip");
  auto tensors = sample_tensors();
  tensors.emplace_back("h.transposed", torch::arange(12, torch::kFloat32).reshape({3, 4}).t());
  tensors.emplace_back("i.slice", torch::arange(40, torch::kInt64).reshape({5, 8}).narrow(0, 1, 2));
  const auto path = (dir / "t.pth").string();
  vrwkv::io::write_torch_file(path, tensors);
  require_same(tensors, vrwkv::io::read_torch_file(path), /*same_order=*/true);
  // The slice is stored on its own, not with the 40-element storage it came from.
  const auto back = as_map(vrwkv::io::read_torch_file(path));
  CHECK(back.at("i.slice").storage().nbytes() == 16 * sizeof(int64_t));
}

TEST_CASE("save_tensors picks the format from the extension and replaces atomically", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_save");
  const auto tensors = sample_tensors();
  for (const std::string name : {"m.safetensors", "m.pth", "m.pt", "m.bin", "M.SAFETENSORS"}) {
    INFO(name);
    const auto path = (dir / name).string();
    vrwkv::io::save_tensors(path, tensors);
    require_same(tensors, vrwkv::io::load_tensors(path), true);
  }
  // The format really follows the extension.
  std::ifstream pth((dir / "m.pth").string(), std::ios::binary);
  char magic[4];
  pth.read(magic, 4);
  CHECK(std::memcmp(magic, "PK\x03\x04", 4) == 0);
  CHECK_NOTHROW(vrwkv::io::read_safetensors((dir / "m.safetensors").string()));

  // Overwriting replaces the old content.
  const NamedTensors other = {{"only", torch::ones({2, 2})}};
  vrwkv::io::save_tensors((dir / "m.safetensors").string(), other);
  require_same(other, vrwkv::io::load_tensors((dir / "m.safetensors").string()), true);

  const auto bad = (dir / "m.ckpt").string();
  const auto msg = error_of([&] { vrwkv::io::save_tensors(bad, tensors); });
  CHECK(contains(msg, bad));
  CHECK(contains(msg, ".ckpt"));

  // A failed write (duplicate names) leaves the previous file and no temporary behind.
  const auto keep = (dir / "keep.pth").string();
  vrwkv::io::save_tensors(keep, other);
  const NamedTensors duplicated = {{"x", torch::ones({1})}, {"x", torch::zeros({1})}};
  CHECK(contains(error_of([&] { vrwkv::io::save_tensors(keep, duplicated); }), "duplicate"));
  require_same(other, vrwkv::io::load_tensors(keep), true);

  const auto nowhere = (dir / "no_such_dir" / "m.safetensors").string();
  CHECK(contains(error_of([&] { vrwkv::io::save_tensors(nowhere, tensors); }), "no_such_dir"));

  for (const auto& entry : fs::directory_iterator(dir))
    CHECK_FALSE(contains(entry.path().filename().string(), ".tmp."));
}

TEST_CASE("fixture model.pth and model.safetensors hold the same weights", "[io]") {
  const auto pth = vrwkv::io::read_torch_file(fixture("model.pth"));
  const auto st = vrwkv::io::read_safetensors(fixture("model.safetensors"));
  REQUIRE(pth.size() == 158);
  REQUIRE(st.size() == 158);
  require_same(pth, st, /*same_order=*/false);
  // load_tensors dispatches on content to the same readers.
  require_same(pth, vrwkv::io::load_tensors(fixture("model.pth")), true);
  require_same(st, vrwkv::io::load_tensors(fixture("model.safetensors")), true);
  for (const auto& [name, tensor] : pth) {
    INFO(name);
    CHECK(vrwkv::io::canonical_name(name) == name);
    CHECK(vrwkv::io::component_of(name) != "other");
  }
  CHECK(vrwkv::io::find_tensor(pth, "rwkv.emb.weight").sizes() == torch::IntArrayRef({512, 128}));
}

TEST_CASE("python reads what we write (torch.load and a json+struct safetensors parser)", "[io]") {
  const std::string python = vrwkv::test::python_with_torch();
  INFO("no python with torch was found at configure time; install python3-torch");
  REQUIRE_FALSE(python.empty());

  const auto dir = vrwkv::test::scratch_dir("io_interop_out");
  auto tensors = sample_tensors();
  tensors.emplace_back("h.transposed", torch::arange(12, torch::kFloat32).reshape({3, 4}).t());
  tensors.emplace_back("i.bool", torch::tensor({true, false}));
  vrwkv::io::write_torch_file((dir / "interop.pth").string(), tensors);
  vrwkv::io::write_safetensors((dir / "interop.safetensors").string(), tensors,
                               {{"format", "pt"}});
  const auto command = quoted(python) + " " + quoted(interop_script()) + " check " +
                       quoted(dir.string()) + " format=pt";
  INFO(command);
  REQUIRE(vrwkv::test::run_command(command) == 0);
}

TEST_CASE("we read what python's torch.save writes", "[io]") {
  const std::string python = vrwkv::test::python_with_torch();
  INFO("no python with torch was found at configure time; install python3-torch");
  REQUIRE_FALSE(python.empty());

  const auto dir = vrwkv::test::scratch_dir("io_interop_in");
  const auto command =
      quoted(python) + " " + quoted(interop_script()) + " write " + quoted(dir.string());
  INFO(command);
  REQUIRE(vrwkv::test::run_command(command) == 0);

  const auto from_pth = vrwkv::io::read_torch_file((dir / "from_python.pth").string());
  const auto from_st = vrwkv::io::read_safetensors((dir / "from_python.safetensors").string());
  const std::vector<std::string> expected_names = {"w_bf16", "w_fp16",    "w_fp32",
                                                   "w_fp32_3d", "steps", "transposed"};
  CHECK(names_of(from_pth) == expected_names);
  require_same(from_st, from_pth, /*same_order=*/true);
  const auto m = as_map(from_pth);
  CHECK(m.at("w_bf16").scalar_type() == torch::kBFloat16);
  CHECK(m.at("w_fp16").scalar_type() == torch::kFloat16);
  CHECK(m.at("w_fp32").scalar_type() == torch::kFloat32);
  CHECK(m.at("steps").scalar_type() == torch::kInt64);
  CHECK(std::isnan(m.at("w_fp32")[0][0].item<float>()));
  CHECK(bitwise_equal(m.at("transposed"), m.at("w_fp32").t()));

  // {"state_dict": {...}, "epoch": 3, "args": Namespace, ...}: the tensors, non-tensors skipped.
  const auto wrapped = vrwkv::io::load_tensors((dir / "from_python_wrapped.pth").string());
  require_same(from_pth, wrapped, true);

  // A one-entry dict (SETITEM) and a real nn.Module.state_dict() (OrderedDict + _metadata,
  // plus an nn.Parameter): both trip libtorch's own unpickler.
  for (const std::string stem : {"from_python_single", "from_python_module"}) {
    INFO(stem);
    const auto pth = vrwkv::io::load_tensors((dir / (stem + ".pth")).string());
    const auto st = vrwkv::io::load_tensors((dir / (stem + ".safetensors")).string());
    REQUIRE_FALSE(pth.empty());
    require_same(st, pth, /*same_order=*/true);
  }
  // Tensors saved from a GPU load onto the CPU.
  const auto from_cuda = vrwkv::io::read_torch_file((dir / "from_python_cuda.pth").string());
  require_same(vrwkv::io::read_torch_file((dir / "from_python_single.pth").string()), from_cuda, true);
  CHECK(from_cuda[0].second.device().is_cpu());

  const auto module_state = vrwkv::io::read_torch_file((dir / "from_python_module.pth").string());
  CHECK(names_of(module_state) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "extra_param"});
}

TEST_CASE("hostile safetensors files give errors that name the file", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_bad_st");
  const auto path = (dir / "bad.safetensors").string();
  auto expect_error = [&](const std::string& part) {
    const auto msg = error_of([&] { vrwkv::io::read_safetensors(path); });
    INFO(msg);
    CHECK(contains(msg, path));
    CHECK(contains(msg, part));
    // load_tensors gives an error too (whatever detects it first).
    CHECK(contains(error_of([&] { vrwkv::io::load_tensors(path); }), path));
  };
  const std::string data(24, '\0');

  SECTION("truncated") {
    vrwkv::io::write_safetensors(path, sample_tensors());
    fs::resize_file(path, fs::file_size(path) - 10);
    expect_error("'");  // names the key whose data is cut off
  }
  SECTION("shorter than 8 bytes") {
    write_bytes(path, "abc");
    expect_error("too short");
  }
  SECTION("header length larger than the file") {
    write_raw_safetensors(path, "{}", "", 1000);
    expect_error("header length 1000");
  }
  SECTION("huge header length") {
    write_raw_safetensors(path, "{}", "", std::numeric_limits<uint64_t>::max() - 1);
    expect_error("header length");
  }
  SECTION("header is not JSON") {
    write_raw_safetensors(path, "{\"a\": [1, 2", data);
    expect_error("not valid JSON");
  }
  SECTION("header is not an object") {
    write_raw_safetensors(path, "[1, 2, 3]", data);
    expect_error("JSON object");
  }
  SECTION("unknown dtype") {
    write_raw_safetensors(path, R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", data);
    expect_error("F8_E4M3");
  }
  SECTION("offsets past the end of the data") {
    write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[10],"data_offsets":[0,40]}})", data);
    expect_error("'w'");
  }
  SECTION("byte size disagrees with the shape") {
    write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", data);
    expect_error("needs 24");
  }
  SECTION("end before begin") {
    write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data);
    expect_error("end before begin");
  }
  SECTION("negative or fractional numbers") {
    write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data);
    expect_error("non-negative integer");
  }
  SECTION("overflowing shape") {
    write_raw_safetensors(
        path, R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data);
    expect_error("'w'");
  }
  SECTION("overlapping ranges") {
    write_raw_safetensors(path,
                          R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          data);
    expect_error("overlap");
  }
  SECTION("metadata must map strings to strings") {
    write_raw_safetensors(path, R"({"__metadata__":{"n":1}})", data);
    expect_error("__metadata__");
  }
  SECTION("missing file") {
    fs::remove(path);
    expect_error("no such file");
  }
}

TEST_CASE("hostile torch files give errors that name the file", "[io]") {
  const auto dir = vrwkv::test::scratch_dir("io_bad_pth");
  const auto path = (dir / "bad.pth").string();
  auto expect_error = [&](const std::string& part) {
    const auto msg = error_of([&] { vrwkv::io::read_torch_file(path); });
    INFO(msg);
    CHECK(contains(msg, path));
    CHECK(contains(msg, part));
    CHECK(msg.find('\n') == std::string::npos);  // one line, no libtorch backtrace
    CHECK(contains(error_of([&] { vrwkv::io::load_tensors(path); }), path));
  };

  SECTION("truncated") {
    vrwkv::io::write_torch_file(path, sample_tensors());
    fs::resize_file(path, fs::file_size(path) / 2);
    expect_error("not a torch.save zip file or corrupt");
  }
  SECTION("truncated right after the magic") {
    vrwkv::io::write_torch_file(path, sample_tensors());
    fs::resize_file(path, 10);
    expect_error("corrupt");
  }
  SECTION("wrong magic (random bytes)") {
    std::string bytes(4096, '\0');
    uint32_t state = 12345;
    for (auto& c : bytes) {
      state = state * 1664525u + 1013904223u;
      c = static_cast<char>(state >> 24);
    }
    bytes[0] = 'X';
    bytes[8] = '\x01';
    write_bytes(path, bytes);
    expect_error("wrong magic");
    CHECK(contains(error_of([&] { vrwkv::io::load_tensors(path); }), "unknown format"));
  }
  SECTION("empty file") {
    write_bytes(path, "");
    expect_error("wrong magic");
  }
  SECTION("a zip magic followed by garbage") {
    write_bytes(path, std::string("PK\x03\x04", 4) + std::string(200, 'z'));
    expect_error("corrupt");
  }
  SECTION("missing file") {
    fs::remove(path);
    expect_error("no such file");
  }
}

TEST_CASE("canonical_name maps the checkpoint variants", "[io]") {
  using vrwkv::io::canonical_name;
  // The three vision variants.
  CHECK(canonical_name("vit.vision_model.embeddings.class_embedding") == "vit.embeddings.class_embedding");
  CHECK(canonical_name("vit.embeddings.class_embedding") == "vit.embeddings.class_embedding");
  CHECK(canonical_name("vision_model.encoder.layers.0.mlp.fc1.weight") == "vit.encoder.layers.0.mlp.fc1.weight");
  // Plain RWKV checkpoints.
  CHECK(canonical_name("blocks.3.att.time_faaaa") == "rwkv.blocks.3.att.time_faaaa");
  CHECK(canonical_name("emb.weight") == "rwkv.emb.weight");
  CHECK(canonical_name("ln_out.bias") == "rwkv.ln_out.bias");
  CHECK(canonical_name("head.weight") == "rwkv.head.weight");
  CHECK(canonical_name("rwkv.blocks.0.ln0.weight") == "rwkv.blocks.0.ln0.weight");
  CHECK(canonical_name("proj.weight") == "proj.weight");
  // Hugging Face parts we never use.
  CHECK(canonical_name("text_model.embeddings.token_embedding.weight").empty());
  CHECK(canonical_name("visual_projection.weight").empty());
  CHECK(canonical_name("text_projection.weight").empty());
  CHECK(canonical_name("logit_scale").empty());
  CHECK(canonical_name("vision_model.embeddings.position_ids").empty());
  CHECK(canonical_name("vit.embeddings.position_ids").empty());
  // Anything else is left for the caller to report.
  CHECK(canonical_name("optimizer.step") == "optimizer.step");
  CHECK(canonical_name("blocksX.weight") == "blocksX.weight");
}

TEST_CASE("component_of names the first path element", "[io]") {
  using vrwkv::io::component_of;
  CHECK(component_of("rwkv.blocks.0.att.key.weight") == "rwkv");
  CHECK(component_of("vit.post_layernorm.bias") == "vit");
  CHECK(component_of("proj.weight") == "proj");
  CHECK(component_of("projx.weight") == "other");
  CHECK(component_of("rwkv") == "rwkv");
  CHECK(component_of("") == "other");
}

namespace {

// Miniature stand-ins for the real modules, with the same naming structure.
struct ToyRwkv : torch::nn::Module {
  ToyRwkv() {
    emb = register_module("emb", torch::nn::Embedding(10, 4));
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(4, 10).bias(false)));
  }
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear head{nullptr};
};

struct ToyEmbeddings : torch::nn::Module {
  ToyEmbeddings() { class_embedding = register_parameter("class_embedding", torch::zeros({4})); }
  torch::Tensor class_embedding;
};

struct ToyVit : torch::nn::Module {
  ToyVit() {
    embeddings = register_module("embeddings", std::make_shared<ToyEmbeddings>());
    post_layernorm = register_module("post_layernorm",
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  }
  std::shared_ptr<ToyEmbeddings> embeddings;
  torch::nn::LayerNorm post_layernorm{nullptr};
};

struct ToyModel : torch::nn::Module {
  ToyModel() {
    rwkv = register_module("rwkv", std::make_shared<ToyRwkv>());
    vit = register_module("vit", std::make_shared<ToyVit>());
    proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(4, 4).bias(false)));
    counter = register_buffer("counter", torch::zeros({1}, torch::kInt64));
  }
  std::shared_ptr<ToyRwkv> rwkv;
  std::shared_ptr<ToyVit> vit;
  torch::nn::Linear proj{nullptr};
  torch::Tensor counter;
};

}  // namespace

TEST_CASE("load_into copies matching weights and reports the rest", "[io]") {
  ToyModel model;
  const auto emb = torch::randn({10, 4}).to(torch::kFloat16);  // converted to the model's fp32
  const auto head = torch::randn({10, 4});
  const auto cls = torch::randn({4});
  const auto ln_w = torch::randn({4}).to(torch::kBFloat16);
  const auto ln_b = torch::randn({4});
  const auto proj = torch::randn({4, 4});

  SECTION("plain RWKV + Hugging Face CLIPModel names") {
    const NamedTensors file = {
        {"emb.weight", emb},
        {"head.weight", head},
        {"vision_model.embeddings.class_embedding", cls},
        {"vision_model.embeddings.position_ids", torch::arange(5)},
        {"vision_model.post_layernorm.weight", ln_w},
        {"vision_model.post_layernorm.bias", ln_b},
        {"text_model.final_layer_norm.weight", torch::ones({4})},
        {"visual_projection.weight", torch::ones({4, 4})},
        {"logit_scale", torch::tensor(2.0)},
        {"proj.weight", proj},
        {"extra.thing", torch::ones({3})},
    };
    const auto report = vrwkv::io::load_into(model, file, "toy.pth", {"rwkv.", "vit."});
    CHECK(report.loaded.size() == 6);
    CHECK(report.missing == std::vector<std::string>{"counter"});
    CHECK(report.unexpected == std::vector<std::string>{"extra.thing"});
    CHECK(report.ignored == std::vector<std::string>{"vision_model.embeddings.position_ids",
                                                     "text_model.final_layer_norm.weight",
                                                     "visual_projection.weight", "logit_scale"});
    CHECK(model.rwkv->emb->weight.scalar_type() == torch::kFloat32);
    CHECK(torch::equal(model.rwkv->emb->weight, emb.to(torch::kFloat32)));
    CHECK(torch::equal(model.rwkv->head->weight, head));
    CHECK(torch::equal(model.vit->embeddings->class_embedding, cls));
    CHECK(torch::equal(model.vit->post_layernorm->weight, ln_w.to(torch::kFloat32)));
    CHECK(torch::equal(model.proj->weight, proj));
    CHECK(model.proj->weight.requires_grad());  // still a trainable parameter
  }

  SECTION("older vit.vision_model. names and a buffer") {
    const NamedTensors file = {
        {"rwkv.emb.weight", emb},
        {"rwkv.head.weight", head},
        {"vit.vision_model.embeddings.class_embedding", cls},
        {"vit.vision_model.post_layernorm.weight", ln_w},
        {"vit.vision_model.post_layernorm.bias", ln_b},
        {"counter", torch::tensor({42}, torch::kInt64)},
    };
    const auto report = vrwkv::io::load_into(model, file, "old.pth", {"rwkv."});
    CHECK(report.loaded.size() == 6);
    CHECK(report.missing == std::vector<std::string>{"proj.weight"});
    CHECK(report.unexpected.empty());
    CHECK(model.counter.item<int64_t>() == 42);
  }

  SECTION("a missing required key is an error that names it; nothing is copied") {
    const auto before = model.rwkv->emb->weight.clone();
    const NamedTensors file = {{"rwkv.emb.weight", emb}, {"proj.weight", proj}};
    const auto msg = error_of([&] { vrwkv::io::load_into(model, file, "part.pth", {"rwkv.", "vit."}); });
    INFO(msg);
    CHECK(contains(msg, "part.pth"));
    CHECK(contains(msg, "missing key 'rwkv.head.weight'"));
    CHECK(contains(msg, "4 required keys missing"));
    CHECK(torch::equal(model.rwkv->emb->weight, before));
  }

  SECTION("a shape mismatch names the key and both shapes") {
    const NamedTensors file = {{"proj.weight", torch::randn({4, 5})}};
    const auto msg = error_of([&] { vrwkv::io::load_into(model, file, "wide.safetensors", {}); });
    INFO(msg);
    CHECK(contains(msg, "wide.safetensors: key 'proj.weight': checkpoint shape [4, 5] but the model expects [4, 4]"));
  }

  SECTION("two file keys with the same canonical name") {
    const NamedTensors file = {{"vit.vision_model.post_layernorm.bias", ln_b},
                               {"vision_model.post_layernorm.bias", ln_b}};
    const auto msg = error_of([&] { vrwkv::io::load_into(model, file, "dup.pth", {}); });
    CHECK(contains(msg, "dup.pth"));
    CHECK(contains(msg, "vit.post_layernorm.bias"));
  }

  SECTION("round trip through state_of and a file") {
    const auto dir = vrwkv::test::scratch_dir("io_state_roundtrip");
    const auto path = (dir / "toy.safetensors").string();
    vrwkv::io::save_tensors(path, vrwkv::io::state_of(model));
    ToyModel fresh;
    const auto report =
        vrwkv::io::load_into(fresh, vrwkv::io::load_tensors(path), path, {"rwkv.", "vit.", "proj."});
    CHECK(report.missing.empty());
    CHECK(report.unexpected.empty());
    CHECK(torch::equal(fresh.rwkv->head->weight, model.rwkv->head->weight));
  }
}

TEST_CASE("state_of lists parameters then buffers, detached", "[io]") {
  ToyModel model;
  const auto state = vrwkv::io::state_of(model);
  CHECK(names_of(state) == std::vector<std::string>{
                               "rwkv.emb.weight", "rwkv.head.weight",
                               "vit.embeddings.class_embedding", "vit.post_layernorm.weight",
                               "vit.post_layernorm.bias", "proj.weight", "counter"});
  for (const auto& [name, tensor] : state) {
    INFO(name);
    CHECK_FALSE(tensor.requires_grad());
  }
  // Detached views share memory with the module (no copies of a large model).
  CHECK(state[0].second.data_ptr() == model.rwkv->emb->weight.data_ptr());
}

namespace {

// Runs cmd_inspect with stdout and stderr captured.
int run_inspect(const std::vector<std::string>& args, std::string& out, std::string& err) {
  std::ostringstream out_stream, err_stream;
  auto* old_out = std::cout.rdbuf(out_stream.rdbuf());
  auto* old_err = std::cerr.rdbuf(err_stream.rdbuf());
  int rc = -1;
  try {
    rc = cmd_inspect(args);
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  out = out_stream.str();
  err = err_stream.str();
  return rc;
}

}  // namespace

TEST_CASE("inspect lists tensors and counts parameters per component", "[io]") {
  std::string out, err;
  SECTION("the fixture") {
    REQUIRE(run_inspect({fixture("model.pth")}, out, err) == 0);
    INFO(out);
    CHECK(contains(out, "rwkv.emb.weight"));
    CHECK(contains(out, "float32"));
    CHECK(contains(out, "[512, 128]"));
    CHECK(contains(out, "65536"));
    CHECK(contains(out, "158 tensors"));
    CHECK(contains(out, "rwkv"));
    CHECK(contains(out, "vit"));
    CHECK(contains(out, "proj"));
    CHECK(contains(out, "total"));
  }
  SECTION("ignored keys and human-friendly counts") {
    const auto dir = vrwkv::test::scratch_dir("io_inspect");
    const auto path = (dir / "clip.safetensors").string();
    vrwkv::io::write_safetensors(path, {{"vision_model.post_layernorm.weight", torch::zeros({607, 500}, torch::kUInt8)},
                                        {"text_model.x", torch::zeros({3})}});
    REQUIRE(run_inspect({path}, out, err) == 0);
    INFO(out);
    CHECK(contains(out, "ignored"));
    CHECK(contains(out, "303,500"));
    CHECK(contains(out, "303.5K"));
  }
  SECTION("errors go to stderr with exit code 1") {
    const std::string missing = "/nonexistent/model.pth";
    CHECK(run_inspect({missing}, out, err) == 1);
    CHECK(contains(err, "error: "));
    CHECK(contains(err, missing));
    CHECK(run_inspect({}, out, err) == 1);
    CHECK(contains(err, "usage"));
  }
}

TEST_CASE("tensor_hash sees every byte and the length, not the layout", "[io]") {
  using vrwkv::io::tensor_hash;
  // 1,003 bytes: whole 32-byte stripes, single words and a tail of 3 bytes.
  const auto bytes = torch::arange(1003, torch::kInt64).remainder(251).to(torch::kUInt8);
  const uint64_t h = tensor_hash(bytes);
  CHECK(h == tensor_hash(bytes.clone()));
  for (int64_t i : {0, 500, 999, 1002}) {  // in a stripe, a word, the tail
    INFO("byte " << i);
    auto changed = bytes.clone();
    changed[i] = changed[i].item<int>() ^ 1;
    CHECK(tensor_hash(changed) != h);
  }
  // A trailing zero byte is not hidden by the tail's zero padding.
  CHECK(tensor_hash(torch::cat({bytes, torch::zeros({1}, torch::kUInt8)})) != h);
  CHECK(tensor_hash(torch::zeros({8}, torch::kUInt8)) != tensor_hash(torch::zeros({16}, torch::kUInt8)));
  // The bytes as stored, whatever the view: a transposed view hashes as its contiguous copy.
  const auto m = torch::randn({7, 5});
  CHECK(tensor_hash(m.t()) == tensor_hash(m.t().contiguous()));
  CHECK(tensor_hash(m.t()) != tensor_hash(m));
  CHECK(vrwkv::io::hash_from_text(vrwkv::io::hash_text(h), "test") == h);
  CHECK_THROWS_WITH(vrwkv::io::hash_from_text("12G4", "frozen.json"), vrwkv::test::contains("frozen.json"));
}
