#include "core/metrics_snapshot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <prometheus/metric_family.h>

namespace streamrec {
namespace {

std::string LabelValue(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

// Adds `m`'s buckets into `acc` (upper bound -> cumulative count).
void AddBuckets(const prometheus::ClientMetric::Histogram& h, std::map<double, double>* acc,
                double* count, double* sum) {
  for (const auto& b : h.bucket) (*acc)[b.upper_bound] += static_cast<double>(b.cumulative_count);
  *count += static_cast<double>(h.sample_count);
  *sum += h.sample_sum;
}

HistogramReading ToReading(const std::map<double, double>& acc, double count, double sum) {
  HistogramReading r;
  for (const auto& [bound, c] : acc) {
    r.upper_bounds.push_back(bound);
    r.cumulative_counts.push_back(c);
  }
  r.count = count;
  r.sum = sum;
  return r;
}

double Increase(double earlier, double later) { return later >= earlier ? later - earlier : later; }

}  // namespace

double HistogramQuantile(double q, const HistogramReading& h) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const size_t n = std::min(h.upper_bounds.size(), h.cumulative_counts.size());
  if (n == 0 || !std::isinf(h.upper_bounds[n - 1])) return nan;
  const double observations = h.cumulative_counts[n - 1];
  if (!(observations > 0)) return nan;
  q = std::clamp(q, 0.0, 1.0);
  double rank = q * observations;
  size_t b = 0;
  while (b < n - 1 && h.cumulative_counts[b] < rank) ++b;
  if (b == n - 1) return n >= 2 ? h.upper_bounds[n - 2] : nan;  // in the +Inf bucket
  const double end = h.upper_bounds[b];
  if (b == 0 && end <= 0) return end;
  const double start = b == 0 ? 0.0 : h.upper_bounds[b - 1];
  const double below = b == 0 ? 0.0 : h.cumulative_counts[b - 1];
  const double in_bucket = h.cumulative_counts[b] - below;
  if (!(in_bucket > 0)) return end;
  rank -= below;
  return start + (end - start) * (rank / in_bucket);
}

HistogramReading HistogramDelta(const HistogramReading& earlier, const HistogramReading& later) {
  // A histogram that restarted (fewer observations than before) counts from zero.
  if (later.count < earlier.count) return later;
  std::map<double, double> before;
  for (size_t i = 0; i < earlier.upper_bounds.size() && i < earlier.cumulative_counts.size(); ++i) {
    before[earlier.upper_bounds[i]] = earlier.cumulative_counts[i];
  }
  HistogramReading d;
  for (size_t i = 0; i < later.upper_bounds.size() && i < later.cumulative_counts.size(); ++i) {
    const auto it = before.find(later.upper_bounds[i]);
    const double prev = it == before.end() ? 0.0 : it->second;
    d.upper_bounds.push_back(later.upper_bounds[i]);
    d.cumulative_counts.push_back(std::max(0.0, later.cumulative_counts[i] - prev));
  }
  d.count = later.count - earlier.count;
  d.sum = later.sum - earlier.sum;
  return d;
}

std::optional<double> MetricsSnapshot::ModelAgeSeconds() const {
  if (!model_created_unix_s) return std::nullopt;
  return std::max(0.0, taken_at_unix_s - *model_created_unix_s);
}

MetricsSnapshot ReadMetricsSnapshot(const prometheus::Collectable& registry,
                                    const MetricsSnapshotOptions& options) {
  MetricsSnapshot s;
  s.taken_at = std::chrono::steady_clock::now();
  s.taken_at_unix_s = std::chrono::duration<double>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::map<std::string, double> consumed_by_stage;
  std::map<double, double> request_buckets, freshness_buckets;
  double request_count = 0, request_sum = 0, freshness_count = 0, freshness_sum = 0;
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name == "streamrec_events_consumed_total") {
      for (const auto& m : f.metric) {
        if (LabelValue(m, "topic") == options.input_topic) {
          consumed_by_stage[LabelValue(m, "stage")] += m.counter.value;
        }
      }
    } else if (f.name == "streamrec_events_rejected_total") {
      for (const auto& m : f.metric) s.events_rejected_total += m.counter.value;
    } else if (f.name == "streamrec_consumer_lag") {
      for (const auto& m : f.metric) s.consumer_lag = s.consumer_lag.value_or(0) + m.gauge.value;
    } else if (f.name == "streamrec_model_version") {
      for (const auto& m : f.metric) {
        if (LabelValue(m, "component") == options.model_component) {
          s.model_version = static_cast<int64_t>(m.gauge.value);
        }
      }
    } else if (f.name == "streamrec_model_created_timestamp_seconds") {
      for (const auto& m : f.metric) {
        if (LabelValue(m, "component") == options.model_component && m.gauge.value > 0) {
          s.model_created_unix_s = m.gauge.value;
        }
      }
    } else if (f.name == "streamrec_serving_request_seconds") {
      for (const auto& m : f.metric) {
        if (options.excluded_paths.count(LabelValue(m, "path")) != 0) continue;
        AddBuckets(m.histogram, &request_buckets, &request_count, &request_sum);
      }
    } else if (f.name == "streamrec_serving_freshness_seconds") {
      for (const auto& m : f.metric) {
        AddBuckets(m.histogram, &freshness_buckets, &freshness_count, &freshness_sum);
      }
    } else if (f.name == "streamrec_consumer_behind_seconds") {
      for (const auto& m : f.metric) {
        if (LabelValue(m, "stage") != options.behind_stage) continue;
        s.behind_seconds = std::max(s.behind_seconds.value_or(0), m.gauge.value);
      }
    }
  }
  for (const auto& [stage, total] : consumed_by_stage) {
    s.events_in_total = std::max(s.events_in_total, total);
  }
  s.request_seconds = ToReading(request_buckets, request_count, request_sum);
  s.freshness_seconds = ToReading(freshness_buckets, freshness_count, freshness_sum);
  return s;
}

MetricsRates RatesBetween(const MetricsSnapshot& earlier, const MetricsSnapshot& later) {
  MetricsRates r;
  r.interval_seconds = std::chrono::duration<double>(later.taken_at - earlier.taken_at).count();
  const HistogramReading requests = HistogramDelta(earlier.request_seconds, later.request_seconds);
  r.request_p99_seconds = HistogramQuantile(0.99, requests);
  r.freshness_p99_seconds = HistogramQuantile(
      0.99, HistogramDelta(earlier.freshness_seconds, later.freshness_seconds));
  if (!(r.interval_seconds > 0)) {
    r.interval_seconds = 0;
    return r;
  }
  r.events_in_per_second =
      Increase(earlier.events_in_total, later.events_in_total) / r.interval_seconds;
  r.requests_per_second = requests.count / r.interval_seconds;
  return r;
}

}  // namespace streamrec
