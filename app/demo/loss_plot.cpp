#include "loss_plot.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "base/error.h"

namespace vrwkv::data {
namespace {

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 || v == std::floor(v) ? "%.0f" : "%.2f", v);
  return buf;
}

}  // namespace

std::vector<LossPoint> read_loss_curve(const std::string& metrics_jsonl) {
  std::ifstream in(metrics_jsonl);
  VRWKV_CHECK(in.good(), metrics_jsonl, ": cannot open");
  std::vector<LossPoint> points;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    try {
      const auto record = nlohmann::json::parse(line);
      points.push_back({record.at("step").get<int64_t>(), record.at("loss").get<double>()});
    } catch (const nlohmann::json::exception& e) {
      throw Error(cat(metrics_jsonl, ":", number, ": not a metrics record: ", e.what()));
    }
  }
  return points;
}

void plot_loss_curve(const std::vector<LossPoint>& points, const std::string& title, const std::string& png_path,
                     int width, int height) {
  VRWKV_CHECK(!points.empty(), png_path, ": no loss values to plot");
  VRWKV_CHECK(width >= 200 && height >= 150, png_path, ": plot too small (", width, "x", height, ")");
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int left = 60, right = 20, top = 36, bottom = 46;
  const cv::Rect area(left, top, width - left - right, height - top - bottom);

  double x0 = double(points.front().step), x1 = x0, y0 = points.front().loss, y1 = y0;
  for (const auto& p : points) {
    x0 = std::min(x0, double(p.step)), x1 = std::max(x1, double(p.step));
    y0 = std::min(y0, p.loss), y1 = std::max(y1, p.loss);
  }
  y0 = std::min(0.0, y0);  // loss from zero, so curves of different runs compare by eye
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto to_pixel = [&](double x, double y) {
    return cv::Point(area.x + int(std::lround((x - x0) / (x1 - x0) * area.width)),
                     area.y + area.height - int(std::lround((y - y0) / (y1 - y0) * area.height)));
  };

  const cv::Scalar axis(0, 0, 0), grid(225, 225, 225), curve(200, 90, 20);
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  for (int i = 0; i <= 5; ++i) {
    const double yv = y0 + (y1 - y0) * i / 5, xv = x0 + (x1 - x0) * i / 5;
    const cv::Point py = to_pixel(x0, yv), px = to_pixel(xv, y0);
    cv::line(img, py, {area.x + area.width, py.y}, grid, 1);
    cv::line(img, px, {px.x, area.y}, grid, 1);
    cv::putText(img, tick_label(yv), {4, py.y + 4}, font, 0.4, axis, 1, cv::LINE_AA);
    cv::putText(img, tick_label(std::round(xv)), {px.x - 10, area.y + area.height + 16}, font, 0.4, axis, 1, cv::LINE_AA);
  }
  cv::line(img, {area.x, area.y}, {area.x, area.y + area.height}, axis, 1);
  cv::line(img, {area.x, area.y + area.height}, {area.x + area.width, area.y + area.height}, axis, 1);
  cv::putText(img, "step", {area.x + area.width / 2 - 14, height - 8}, font, 0.5, axis, 1, cv::LINE_AA);
  cv::putText(img, "loss", {4, top - 10}, font, 0.5, axis, 1, cv::LINE_AA);
  cv::putText(img, title, {area.x + 40, 22}, font, 0.55, axis, 1, cv::LINE_AA);

  std::vector<cv::Point> line;
  for (const auto& p : points) line.push_back(to_pixel(double(p.step), p.loss));
  cv::polylines(img, line, false, curve, 2, cv::LINE_AA);
  for (const auto& pt : line) cv::circle(img, pt, 2, curve, cv::FILLED, cv::LINE_AA);
  VRWKV_CHECK(cv::imwrite(png_path, img), png_path, ": cannot write the plot");
}

}  // namespace vrwkv::data
