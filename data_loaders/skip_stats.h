// Bad samples are skipped, never fatal one at a time: each is counted by reason and logged with
// its id, and a ceiling on the skipped fraction stops the job with a clear message.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace vrwkv::data {

class SkipStats {
 public:
  // max_fraction: the ceiling; it is checked once at least min_seen samples were seen.
  explicit SkipStats(double max_fraction = 1.0, int64_t min_seen = 100)
      : max_fraction_(max_fraction), min_seen_(min_seen) {}

  // The whole run's counts before this process (a checkpoint's, summed over its ranks): the
  // ceiling then counts the whole run. to_json() still reports this process's own counts, so the
  // trainer can sum the ranks' and add the earlier total once.
  void set_earlier(const nlohmann::json& run_totals);

  void record_ok();
  // Logs the first few skips of each reason in full, then every 1000th. Throws vrwkv::Error when
  // the skipped fraction passes the ceiling.
  void record_skip(const std::string& reason, const std::string& sample_id, const std::string& message);

  int64_t seen() const;
  int64_t skipped() const;
  std::map<std::string, int64_t> by_reason() const;
  nlohmann::json to_json() const;  // {"seen", "skipped", "by_reason": {...}}

 private:
  mutable std::mutex mu_;
  double max_fraction_;
  int64_t min_seen_;
  int64_t seen_ = 0, skipped_ = 0;
  int64_t earlier_seen_ = 0, earlier_skipped_ = 0;
  std::map<std::string, int64_t> by_reason_;
};

}  // namespace vrwkv::data
