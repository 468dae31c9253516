#include "skip_stats.h"

#include <spdlog/spdlog.h>

#include "base/error.h"

namespace vrwkv::data {

void SkipStats::set_earlier(const nlohmann::json& run_totals) {
  std::lock_guard<std::mutex> lock(mu_);
  if (run_totals.is_null()) return;
  try {
    earlier_seen_ = run_totals.at("seen").get<int64_t>();
    earlier_skipped_ = run_totals.at("skipped").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(cat("skip counts of the checkpoint: ", e.what()));
  }
}

void SkipStats::record_ok() {
  std::lock_guard<std::mutex> lock(mu_);
  ++seen_;
}

void SkipStats::record_skip(const std::string& reason, const std::string& sample_id, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  ++seen_;
  ++skipped_;
  const int64_t n = ++by_reason_[reason];
  if (n <= 10 || n % 1000 == 0)
    spdlog::warn("skipped sample {} ({}, {} so far): {}", sample_id, reason, n, message);
  const int64_t seen = earlier_seen_ + seen_, skipped = earlier_skipped_ + skipped_;
  if (seen >= min_seen_ && double(skipped) > max_fraction_ * double(seen)) {
    std::string reasons;
    for (const auto& [r, count] : by_reason_) reasons += cat(reasons.empty() ? "" : ", ", r, " ", count);
    throw Error(cat("too many bad samples: ", skipped, " of ", seen, " skipped in the run (here: ", reasons,
                    "), above data.max_skip_fraction = ", max_fraction_, "; fix the data or raise the ceiling"));
  }
}

int64_t SkipStats::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

int64_t SkipStats::skipped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_;
}

std::map<std::string, int64_t> SkipStats::by_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_reason_;
}

nlohmann::json SkipStats::to_json() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"seen", seen_}, {"skipped", skipped_}, {"by_reason", by_reason_}};
}

}  // namespace vrwkv::data
