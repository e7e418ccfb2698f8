#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "core/metrics_snapshot.h"
#include "core/thread_annotations.h"

namespace streamrec::serving {

// GET /v1/stats, the storefront's live panel: figures of the process's own Prometheus
// registry, read with core's MetricsSnapshot (the one reader, shared with the
// `streamrec run` console), so the page shows what a dashboard would.

// The snapshot options of the live panel: core's defaults, with the storefront's own
// routes (the page, its files, its polling) left out of the request figures.
MetricsSnapshotOptions LiveSnapshotOptions();

struct LiveStatsOptions {
  // What counts as events in (input_topic: the serving operator sets its clicks topic),
  // the served model's component, the routes that are not traffic.
  MetricsSnapshotOptions snapshot = LiveSnapshotOptions();
  // Rates and percentiles span about the last `window`: from the newest kept reading at
  // least that old (or the oldest one) to now. Readings are kept at most every
  // `min_interval`, so many pollers do not grow the history.
  std::chrono::milliseconds window{5000};
  std::chrono::milliseconds min_interval{200};
};

// What /v1/stats answers. NaN (null in JSON) where there is nothing to report: no earlier
// reading (rates), nothing observed in the window (percentiles), no model registered
// (version; 0 while registered with no version loaded), age or lag not known.
struct LiveStatsReport {
  int64_t time_ms = 0;           // the reading's wall-clock time
  double window_s = 0;           // the interval the rates are over
  double events_per_s = 0;       // clicks consumed (the stage that consumed the most)
  double requests_per_s = 0;     // HTTP requests, the storefront's own routes left out
  double p99_ms = 0;             // their latency p99 over the window
  double freshness_p99_ms = 0;   // click's Kafka timestamp -> serving applied it, p99
  double model_version = 0;
  double model_age_s = 0;        // since the trainer wrote the served version
  double consumer_lag = 0;       // every stage, topic and partition
};

// The report from two readings (`earlier` may be null: no rates yet).
LiveStatsReport Report(const MetricsSnapshot* earlier, const MetricsSnapshot& now);

// {"time_ms":..,"window_s":..,"events_per_s":..,"requests_per_s":..,"p99_ms":..,
//  "freshness_p99_ms":..,"model_version":..,"model_age_s":..,"consumer_lag":..}
// (null for NaN).
std::string EncodeLiveStats(const LiveStatsReport& report);

// Keeps recent readings so that each Add() reports over about the last window.
// Thread-safe (HTTP worker threads).
class LiveStats {
 public:
  explicit LiveStats(LiveStatsOptions options = {}) : options_(std::move(options)) {}
  const LiveStatsOptions& options() const { return options_; }

  // Compares `now` with the kept reading about one window old, and keeps `now`.
  LiveStatsReport Add(MetricsSnapshot now);
  // Reads `registry` (ReadMetricsSnapshot) and Add()s the reading.
  LiveStatsReport Read(const prometheus::Collectable& registry);

 private:
  const LiveStatsOptions options_;
  Mutex mu_;
  std::deque<MetricsSnapshot> readings_ GUARDED_BY(mu_);  // oldest first
};

}  // namespace streamrec::serving
