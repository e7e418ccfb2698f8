#include "serving/live_stats.h"

#include <cmath>
#include <limits>

#include "core/json_writer.h"

namespace streamrec::serving {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

MetricsSnapshotOptions LiveSnapshotOptions() {
  MetricsSnapshotOptions o;
  for (const char* path : {"/", "/storefront/{file}", "/v1/stats", "/v1/users/recent"}) {
    o.excluded_paths.insert(path);
  }
  return o;
}

LiveStatsReport Report(const MetricsSnapshot* earlier, const MetricsSnapshot& now) {
  LiveStatsReport r;
  r.time_ms = static_cast<int64_t>(std::llround(now.taken_at_unix_s * 1000.0));
  r.model_version = now.model_version ? static_cast<double>(*now.model_version) : kNaN;
  r.model_age_s = now.ModelAgeSeconds().value_or(kNaN);
  r.consumer_lag = now.consumer_lag.value_or(kNaN);
  r.window_s = r.events_per_s = r.requests_per_s = r.p99_ms = r.freshness_p99_ms = kNaN;
  if (earlier == nullptr) return r;
  const MetricsRates rates = RatesBetween(*earlier, now);
  if (!(rates.interval_seconds > 0)) return r;
  r.window_s = rates.interval_seconds;
  r.events_per_s = rates.events_in_per_second;
  r.requests_per_s = rates.requests_per_second;
  r.p99_ms = rates.request_p99_seconds * 1000.0;
  r.freshness_p99_ms = rates.freshness_p99_seconds * 1000.0;
  return r;
}

std::string EncodeLiveStats(const LiveStatsReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("time_ms").Int(r.time_ms);
  w.Key("window_s").Double(r.window_s);
  w.Key("events_per_s").Double(r.events_per_s);
  w.Key("requests_per_s").Double(r.requests_per_s);
  w.Key("p99_ms").Double(r.p99_ms);
  w.Key("freshness_p99_ms").Double(r.freshness_p99_ms);
  w.Key("model_version").Double(r.model_version);
  w.Key("model_age_s").Double(r.model_age_s);
  w.Key("consumer_lag").Double(r.consumer_lag);
  w.EndObject();
  return w.Release();
}

LiveStatsReport LiveStats::Add(MetricsSnapshot now) {
  MutexLock lock(&mu_);
  // Drop readings while the next one is already at least a window old: the oldest kept
  // is then the newest reading from before the window's start.
  while (readings_.size() > 1 && now.taken_at - readings_[1].taken_at >= options_.window) {
    readings_.pop_front();
  }
  LiveStatsReport report = Report(readings_.empty() ? nullptr : &readings_.front(), now);
  if (readings_.empty() || now.taken_at - readings_.back().taken_at >= options_.min_interval) {
    readings_.push_back(std::move(now));
  }
  return report;
}

LiveStatsReport LiveStats::Read(const prometheus::Collectable& registry) {
  return Add(ReadMetricsSnapshot(registry, options_.snapshot));
}

}  // namespace streamrec::serving
