#include "train/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>

namespace vrwkv::train {

void fault_point(const char* point, int64_t step) {
  static const char* wanted = std::getenv("VRWKV_TEST_KILL_AT");
  if (wanted && std::string(wanted) == std::string(point) + ":" + std::to_string(step)) std::raise(SIGKILL);
}

bool plant_nan(int64_t step, int rank) {
  const char* wanted = std::getenv("VRWKV_TEST_NAN_AT");  // read each step: tests set it per run
  if (!wanted) return false;
  std::istringstream list(wanted);
  for (std::string item; std::getline(list, item, ',');) {
    const auto at = item.find('@');
    if (std::stoll(item.substr(0, at)) != step) continue;
    if (at == std::string::npos || std::stoi(item.substr(at + 1)) == rank) return true;
  }
  return false;
}

}  // namespace vrwkv::train
