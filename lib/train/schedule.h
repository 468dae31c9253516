// Learning-rate schedule of SPEC section 9: warm-up multiplies the base rate by
// 0.1 + 0.9 * step / warmup_steps; then cosine from lr_init to lr_final over the remaining steps
// (constant when they are equal).
#pragma once
#include <cstdint>

namespace vrwkv::train {

struct LrSchedule {
  double lr_init = 1e-3;
  double lr_final = 1e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // The rate for optimizer step `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace vrwkv::train
