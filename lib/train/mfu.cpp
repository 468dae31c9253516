#include "train/mfu.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "base/device_name.h"

namespace vrwkv::train {
namespace {

// A device: the words its name must contain; its dense peaks in FLOP/s (0: no such peak, e.g. no
// bf16 on a V100). The words are whole tokens of the name, so "A10" does not match "A100".
struct DevicePeak {
  std::vector<std::string> words;
  double bf16, fp32;
};

// First match wins: the variants (NVL, PCIe) come before their family. A name that matches no
// row (e.g. a bare "H100" of unknown form factor, A10G, whose peaks NVIDIA does not publish) has
// no peak. Sources: NVIDIA's datasheets (A100, H100, H200, L40S, A10, L4, V100) and the Ada
// whitepaper (RTX 4090: bf16 with fp32 accumulate).
const std::vector<DevicePeak>& table() {
  static const std::vector<DevicePeak> rows = {
      {{"H200", "NVL"}, 835e12, 60e12},
      {{"H200"}, 989.4e12, 67e12},
      {{"H100", "NVL"}, 835e12, 60e12},
      {{"H100", "PCIE"}, 756e12, 51e12},
      {{"H100", "HBM3"}, 989.4e12, 67e12},  // the SXM5 part reports "NVIDIA H100 80GB HBM3"
      {{"H100", "SXM"}, 989.4e12, 67e12},
      {{"H100", "SXM5"}, 989.4e12, 67e12},
      {{"A100"}, 312e12, 19.5e12},
      {{"L40S"}, 362.05e12, 91.6e12},
      {{"A10"}, 125e12, 31.2e12},
      {{"L4"}, 121e12, 30.3e12},
      {{"RTX", "4090"}, 165.2e12, 82.6e12},
      {{"V100", "SXM2"}, 0, 15.7e12},
      {{"V100", "PCIE"}, 0, 14e12},
  };
  return rows;
}

// The name's words, upper case, split at anything not a letter or digit.
std::set<std::string> words_of(const std::string& name) {
  std::set<std::string> words;
  std::string word;
  for (const char c : name + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(char(std::toupper(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      words.insert(word);
      word.clear();
    }
  }
  return words;
}

}  // namespace

std::optional<double> peak_flops(const std::string& device_name, Precision precision) {
  const auto words = words_of(device_name);
  for (const auto& row : table()) {
    if (!std::all_of(row.words.begin(), row.words.end(), [&](const std::string& w) { return words.count(w) > 0; }))
      continue;
    const double peak = precision == Precision::kBf16 ? row.bf16 : row.fp32;
    if (peak > 0) return peak;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> device_peak_flops(const torch::Device& device, Precision precision) {
  if (!device.is_cuda()) return std::nullopt;
  return peak_flops(cuda_device_name(device.has_index() ? device.index() : -1), precision);
}

}  // namespace vrwkv::train
