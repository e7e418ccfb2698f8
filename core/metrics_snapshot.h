#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

namespace streamrec {

// A reading, in process, of the few figures a status display needs (the `streamrec run`
// console, the storefront's live panel), taken from a Prometheus registry (usually
// MetricsRegistry()). Totals are cumulative, so a display takes two readings and calls
// RatesBetween for per-second rates and interval percentiles, as Prometheus's rate() and
// histogram_quantile() would. Reading does not change the registry; any thread may read.

// A histogram's buckets, merged over the series read (Prometheus's `sum by (le)`).
struct HistogramReading {
  // Ascending upper bounds; the last one is +Inf when anything was read.
  std::vector<double> upper_bounds;
  // Observations <= the bound of the same index (cumulative, as exposed).
  std::vector<double> cumulative_counts;
  double count = 0;
  double sum = 0;
};

// The q-quantile (0 <= q <= 1) of the observations, interpolated linearly inside the
// bucket it falls in, as Prometheus's histogram_quantile() does (a quantile in the +Inf
// bucket answers the highest finite bound). NaN when there are no observations.
double HistogramQuantile(double q, const HistogramReading& h);

// The observations made between two readings of the same histogram (later minus earlier,
// bucket by bucket). A bucket missing from `earlier` counts as zero there.
HistogramReading HistogramDelta(const HistogramReading& earlier, const HistogramReading& later);

struct MetricsSnapshotOptions {
  // Events "in" are the messages consumed from this topic (`streamrec_events_consumed_total
  // {topic}`), counted once: the stage that consumed the most of them (in `streamrec run`
  // the user and serving stages both read `clicks`).
  std::string input_topic = "clicks";
  // The `component` of `streamrec_model_version` that serving reports (the trainer's own
  // version has component="trainer").
  std::string model_component = "two_tower";
  // How far behind, in seconds, this stage's consumers are
  // (`streamrec_consumer_behind_seconds{stage}`, the largest over its partitions): the
  // serving stage's answers reflect every click appended that long ago.
  std::string behind_stage = "serving";
  // `streamrec_serving_request_seconds{path}` series left out of the request figures:
  // probes and scrapes are not traffic.
  std::set<std::string> excluded_paths = {"/metrics", "/healthz", "/readyz"};
};

struct MetricsSnapshot {
  // When the reading was taken (steady clock for rates, system clock for ages).
  std::chrono::steady_clock::time_point taken_at{};
  double taken_at_unix_s = 0;

  // streamrec_events_consumed_total{topic=input_topic}: the largest per-stage total.
  double events_in_total = 0;
  // streamrec_events_rejected_total, every reason.
  double events_rejected_total = 0;
  // Sum of streamrec_consumer_lag over every stage, topic and partition; empty when no
  // consumer has reported a lag yet.
  std::optional<double> consumer_lag;
  // streamrec_model_version{component=model_component}; empty before the serving stage
  // registered it. 0 means registered, but no version loaded yet.
  std::optional<int64_t> model_version;
  // streamrec_model_created_timestamp_seconds{component}: when the trainer wrote the
  // version served; empty when not exported or no version is loaded.
  std::optional<double> model_created_unix_s;
  // streamrec_serving_request_seconds, merged over paths not excluded. Its count is the
  // number of requests served.
  HistogramReading request_seconds;
  // streamrec_serving_freshness_seconds (a click's Kafka timestamp to the serving stage
  // applying it); empty buckets when not exported.
  HistogramReading freshness_seconds;
  // Largest streamrec_consumer_behind_seconds{stage=behind_stage}; empty when that stage
  // has no partition assigned (or runs in another process).
  std::optional<double> behind_seconds;

  // Age of the served model at the time of the reading; empty when unknown.
  std::optional<double> ModelAgeSeconds() const;
};

// Reads `registry` (Collect(), which is thread-safe in prometheus-cpp).
MetricsSnapshot ReadMetricsSnapshot(const prometheus::Collectable& registry,
                                    const MetricsSnapshotOptions& options = {});

// What happened between two readings of the same registry.
struct MetricsRates {
  double interval_seconds = 0;
  double events_in_per_second = 0;
  double requests_per_second = 0;
  // Percentiles of what was observed in the interval; NaN when nothing was.
  double request_p99_seconds = 0;
  double freshness_p99_seconds = 0;
};

// Rates over [earlier.taken_at, later.taken_at]; zeros when the interval is not positive.
// A counter that went backwards (a restart) counts from zero.
MetricsRates RatesBetween(const MetricsSnapshot& earlier, const MetricsSnapshot& later);

}  // namespace streamrec
