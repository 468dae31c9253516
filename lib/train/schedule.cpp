#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace vrwkv::train {

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr_init * (0.1 + 0.9 * double(step) / double(warmup_steps));
  if (lr_final == lr_init) return lr_init;
  const double span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::clamp(double(step - warmup_steps) / span, 0.0, 1.0);
  return lr_final + 0.5 * (lr_init - lr_final) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace vrwkv::train
