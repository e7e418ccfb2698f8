#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/thread_annotations.h"

namespace streamrec::serving {

// GET /v1/stats: the storefront's live panel, read from the process's own Prometheus
// registry (core/metrics.h), so the page shows the figures a dashboard would.

// The gauge the request stage sets to the largest event time (seconds) of the clicks it
// has applied to the users' windows; freshness is now minus it.
inline constexpr char kNewestEventMetric[] = "streamrec_serving_newest_event_timestamp_seconds";

struct LiveStatsOptions {
  // events/s: streamrec_events_consumed_total{stage=events_stage,topic=events_topic}.
  std::string events_stage = "serving";
  std::string events_topic = "clicks";
  // requests/s and latency quantiles: streamrec_serving_request_seconds{path=latency_path}.
  std::string latency_path = "/v1/recommendations";
  // streamrec_model_version{component=model_component}.
  std::string model_component = "two_tower";  // AspiredVersionsManagerOptions::component
  // Rates and quantiles are over about the last `window_ms` (between the newest reading
  // at least `min_interval_ms` old and now).
  int64_t window_ms = 5000;
  int64_t min_interval_ms = 200;
};

// One reading of the registry: cumulative values (NaN where the series does not exist).
struct StatsSample {
  int64_t time_ms = 0;
  double events = 0;
  double requests = 0;
  // streamrec_serving_request_seconds{path}: upper bounds (+Inf last) and cumulative counts.
  std::vector<double> bucket_bounds;
  std::vector<double> bucket_counts;
  double model_version = 0;
  double newest_event_s = 0;
};

// What /v1/stats answers. NaN (null in JSON) where there is nothing to report yet: no
// earlier reading (rates), no request in the window (quantiles), no click (freshness),
// no model registry in the process (version; 0 while no model is loaded).
struct LiveStatsReport {
  int64_t time_ms = 0;
  double window_s = 0;        // the interval the rates are over
  double events_per_s = 0;    // clicks consumed by serving
  double requests_per_s = 0;  // recommendation requests over HTTP
  double p50_ms = 0;
  double p99_ms = 0;
  double model_version = 0;
  double freshness_s = 0;     // age of the newest click serving has applied
};

// Sums the values of `name`'s series whose labels include every (name, value) of
// `labels` (counters, gauges and untyped; NaN when no series matches).
double SumSeries(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                 const std::vector<prometheus::ClientMetric::Label>& labels);

// The figures of LiveStatsOptions, read from `families` at `now_ms`.
StatsSample SampleMetrics(const std::vector<prometheus::MetricFamily>& families,
                          const LiveStatsOptions& options, int64_t now_ms);

// Quantile q (0..1) of a histogram given as cumulative counts per upper bound (+Inf
// last), as PromQL's histogram_quantile computes it: linear within the bucket the rank
// falls in, the highest finite bound when it falls in +Inf. NaN without observations.
double HistogramQuantile(double q, const std::vector<double>& bounds,
                         const std::vector<double>& cumulative_counts);

// The report between an earlier reading and a later one.
LiveStatsReport Compare(const StatsSample* earlier, const StatsSample& now);

// {"time_ms":..,"window_s":..,"events_per_s":..,"requests_per_s":..,"p50_ms":..,
//  "p99_ms":..,"model_version":..,"freshness_s":..} (null for NaN).
std::string EncodeLiveStats(const LiveStatsReport& report);

// Keeps recent readings so that each Read() reports rates over about the last window.
// Thread-safe (HTTP worker threads).
class LiveStats {
 public:
  explicit LiveStats(LiveStatsOptions options = {}) : options_(std::move(options)) {}
  const LiveStatsOptions& options() const { return options_; }

  // Reads `families` as of `now_ms`, compares with the oldest kept reading inside the
  // window, and keeps this one (at most one per min_interval_ms).
  LiveStatsReport Read(const std::vector<prometheus::MetricFamily>& families, int64_t now_ms);

 private:
  const LiveStatsOptions options_;
  Mutex mu_;
  std::deque<StatsSample> samples_ GUARDED_BY(mu_);  // oldest first
};

}  // namespace streamrec::serving
