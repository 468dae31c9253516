// `visualrwkv inspect FILE`: what a checkpoint holds, per tensor and per model component.
#include "commands.h"

#include "base/error.h"
#include "io/state_dict.h"
#include "io/tensor_file.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

const char* kUsage = "usage: visualrwkv inspect FILE (.pth/.pt/.bin or .safetensors)";

std::string dtype_text(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat64: return "float64";
    case torch::kFloat32: return "float32";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(type);
  }
}

std::string shape_text(at::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

// 1.60B / 303.5M / 12.3K: what people quote model sizes in.
std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000000LL)
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000LL)
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else if (n >= 1000LL)
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

// 1,600,000,000: the exact count, still readable.
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string pad_left(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

struct Tally {
  int64_t tensors = 0, params = 0;
};

int inspect(const std::string& path) {
  const auto tensors = vrwkv::io::load_tensors(path);

  std::size_t name_width = 4, dtype_width = 5, shape_width = 5;
  for (const auto& [name, t] : tensors) {
    name_width = std::max(name_width, name.size());
    dtype_width = std::max(dtype_width, dtype_text(t.scalar_type()).size());
    shape_width = std::max(shape_width, shape_text(t.sizes()).size());
  }

  std::cout << path << ": " << tensors.size() << " tensors\n";
  std::cout << pad("name", name_width) << "  " << pad("dtype", dtype_width) << "  "
            << pad("shape", shape_width) << "  numel\n";
  std::map<std::string, Tally> per_component;
  Tally total;
  for (const auto& [name, t] : tensors) {
    std::cout << pad(name, name_width) << "  " << pad(dtype_text(t.scalar_type()), dtype_width)
              << "  " << pad(shape_text(t.sizes()), shape_width) << "  " << t.numel() << "\n";
    const std::string canonical = vrwkv::io::canonical_name(name);
    auto& tally = per_component[canonical.empty() ? "ignored" : vrwkv::io::component_of(canonical)];
    ++tally.tensors;
    tally.params += t.numel();
    ++total.tensors;
    total.params += t.numel();
  }

  std::cout << "\n" << pad("component", 9) << "  " << pad_left("tensors", 7) << "  "
            << pad_left("parameters", 17) << "\n";
  auto line = [](const std::string& label, const Tally& tally) {
    std::cout << pad(label, 9) << "  " << pad_left(std::to_string(tally.tensors), 7) << "  "
              << pad_left(grouped(tally.params), 17) << "  (" << human_count(tally.params)
              << ")\n";
  };
  for (const char* component : {"rwkv", "vit", "proj", "other", "ignored"}) {
    const auto it = per_component.find(component);
    if (it != per_component.end()) line(component, it->second);
  }
  line("total", total);
  return 0;
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::cout << kUsage << "\n";
    return 0;
  }
  if (args.size() != 1) {
    std::cerr << "error: " << kUsage << "\n";
    return 1;
  }
  try {
    return inspect(args[0]);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
