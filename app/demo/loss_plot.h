// Loss curves of a run as PNG plots (OpenCV drawing: axes, ticks, labels, one polyline), read from
// the metrics.jsonl a training run writes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vrwkv::data {

struct LossPoint {
  int64_t step = 0;
  double loss = 0;
};

// The (step, loss) records of a run's metrics.jsonl; throws vrwkv::Error naming the file and line.
std::vector<LossPoint> read_loss_curve(const std::string& metrics_jsonl);

// Draws the curve into a width x height PNG at `png_path`; throws vrwkv::Error when there is
// nothing to draw or the file cannot be written.
void plot_loss_curve(const std::vector<LossPoint>& points, const std::string& title, const std::string& png_path,
                     int width = 640, int height = 400);

}  // namespace vrwkv::data
