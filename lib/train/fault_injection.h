// Test-only seams. The crash-safety tests kill the trainer at named points of the checkpoint
// sequence through the environment, VRWKV_TEST_KILL_AT=<point>:<step> (SIGKILL when rank 0 reaches
// <point> while writing the checkpoint of <step>). Nothing else sets it; unset, it costs one getenv.
// Points, in order: "opened", "optimizer_written", "model_written", "before_commit", "committed".
#pragma once
#include <cstdint>

namespace vrwkv::train {

void fault_point(const char* point, int64_t step);

// The non-finite guard's seam: VRWKV_TEST_NAN_AT=<step>[@<rank>][,...] makes the loss of that
// optimizer step (1-based) NaN on that rank (every rank without @), so its gradients are NaN too.
bool plant_nan(int64_t step, int rank);

}  // namespace vrwkv::train
