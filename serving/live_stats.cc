#include "serving/live_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/json_writer.h"

namespace streamrec::serving {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool HasLabels(const prometheus::ClientMetric& metric,
               const std::vector<prometheus::ClientMetric::Label>& wanted) {
  for (const auto& w : wanted) {
    const bool found = std::any_of(metric.label.begin(), metric.label.end(),
                                   [&](const auto& l) { return l == w; });
    if (!found) return false;
  }
  return true;
}

const prometheus::MetricFamily* FindFamily(const std::vector<prometheus::MetricFamily>& families,
                                           const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double ValueOf(const prometheus::MetricFamily& family, const prometheus::ClientMetric& m) {
  switch (family.type) {
    case prometheus::MetricType::Counter: return m.counter.value;
    case prometheus::MetricType::Gauge: return m.gauge.value;
    case prometheus::MetricType::Untyped: return m.untyped.value;
    default: return kNaN;
  }
}

// Sums the matching histogram series into bounds/counts (series with other bounds are
// left out: merging them would need re-bucketing). Returns the observation count.
double SumHistogram(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                    const std::vector<prometheus::ClientMetric::Label>& labels,
                    std::vector<double>* bounds, std::vector<double>* counts) {
  bounds->clear();
  counts->clear();
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr || family->type != prometheus::MetricType::Histogram) return kNaN;
  double total = kNaN;
  for (const auto& m : family->metric) {
    if (!HasLabels(m, labels)) continue;
    const auto& buckets = m.histogram.bucket;
    if (bounds->empty()) {
      for (const auto& b : buckets) bounds->push_back(b.upper_bound);
      counts->assign(buckets.size(), 0.0);
      total = 0;
    } else if (buckets.size() != bounds->size()) {
      continue;
    }
    bool same = true;
    for (size_t i = 0; i < buckets.size() && same; ++i) same = buckets[i].upper_bound == (*bounds)[i];
    if (!same) continue;
    for (size_t i = 0; i < buckets.size(); ++i) {
      (*counts)[i] += static_cast<double>(buckets[i].cumulative_count);
    }
    total += static_cast<double>(m.histogram.sample_count);
  }
  return total;
}

double Delta(double later, double earlier) {
  if (std::isnan(later) || std::isnan(earlier)) return kNaN;
  return std::max(0.0, later - earlier);
}

}  // namespace

double SumSeries(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                 const std::vector<prometheus::ClientMetric::Label>& labels) {
  const prometheus::MetricFamily* family = FindFamily(families, name);
  if (family == nullptr) return kNaN;
  double sum = kNaN;
  for (const auto& m : family->metric) {
    if (!HasLabels(m, labels)) continue;
    const double v = ValueOf(*family, m);
    if (std::isnan(v)) continue;
    sum = std::isnan(sum) ? v : sum + v;
  }
  return sum;
}

StatsSample SampleMetrics(const std::vector<prometheus::MetricFamily>& families,
                          const LiveStatsOptions& options, int64_t now_ms) {
  StatsSample s;
  s.time_ms = now_ms;
  s.events = SumSeries(families, "streamrec_events_consumed_total",
                       {{"stage", options.events_stage}, {"topic", options.events_topic}});
  s.requests = SumHistogram(families, "streamrec_serving_request_seconds",
                            {{"path", options.latency_path}}, &s.bucket_bounds, &s.bucket_counts);
  s.model_version =
      SumSeries(families, "streamrec_model_version", {{"component", options.model_component}});
  s.newest_event_s = SumSeries(families, kNewestEventMetric, {});
  return s;
}

double HistogramQuantile(double q, const std::vector<double>& bounds,
                         const std::vector<double>& cumulative_counts) {
  if (bounds.empty() || bounds.size() != cumulative_counts.size()) return kNaN;
  const double total = cumulative_counts.back();
  if (!(total > 0)) return kNaN;
  const double rank = std::clamp(q, 0.0, 1.0) * total;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (cumulative_counts[i] < rank) continue;
    if (std::isinf(bounds[i])) {
      // Above the highest finite bound: that bound is all a histogram can say.
      return i > 0 ? bounds[i - 1] : kNaN;
    }
    const double lower = i > 0 ? bounds[i - 1] : 0.0;
    const double below = i > 0 ? cumulative_counts[i - 1] : 0.0;
    const double in_bucket = cumulative_counts[i] - below;
    if (in_bucket <= 0) return bounds[i];
    return lower + (bounds[i] - lower) * (rank - below) / in_bucket;
  }
  return kNaN;
}

LiveStatsReport Compare(const StatsSample* earlier, const StatsSample& now) {
  LiveStatsReport r;
  r.time_ms = now.time_ms;
  r.model_version = now.model_version;
  r.freshness_s = now.newest_event_s > 0
                      ? std::max(0.0, static_cast<double>(now.time_ms) / 1000.0 - now.newest_event_s)
                      : kNaN;
  r.window_s = kNaN;
  r.events_per_s = r.requests_per_s = r.p50_ms = r.p99_ms = kNaN;
  if (earlier == nullptr || earlier->time_ms >= now.time_ms) return r;
  const double seconds = static_cast<double>(now.time_ms - earlier->time_ms) / 1000.0;
  r.window_s = seconds;
  r.events_per_s = Delta(now.events, earlier->events) / seconds;
  r.requests_per_s = Delta(now.requests, earlier->requests) / seconds;
  if (now.bucket_bounds.empty()) return r;
  std::vector<double> counts = now.bucket_counts;
  if (earlier->bucket_bounds == now.bucket_bounds) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] = Delta(counts[i], earlier->bucket_counts[i]);
  }
  r.p50_ms = HistogramQuantile(0.50, now.bucket_bounds, counts) * 1000.0;
  r.p99_ms = HistogramQuantile(0.99, now.bucket_bounds, counts) * 1000.0;
  return r;
}

std::string EncodeLiveStats(const LiveStatsReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("time_ms").Int(r.time_ms);
  w.Key("window_s").Double(r.window_s);
  w.Key("events_per_s").Double(r.events_per_s);
  w.Key("requests_per_s").Double(r.requests_per_s);
  w.Key("p50_ms").Double(r.p50_ms);
  w.Key("p99_ms").Double(r.p99_ms);
  w.Key("model_version").Double(r.model_version);
  w.Key("freshness_s").Double(r.freshness_s);
  w.EndObject();
  return w.Release();
}

LiveStatsReport LiveStats::Read(const std::vector<prometheus::MetricFamily>& families,
                                int64_t now_ms) {
  StatsSample sample = SampleMetrics(families, options_, now_ms);
  MutexLock lock(&mu_);
  // Keep the newest reading at or before the window's start as the oldest one, so the
  // comparison spans about one window once the process has run that long.
  while (samples_.size() > 1 && samples_[1].time_ms <= now_ms - options_.window_ms) {
    samples_.pop_front();
  }
  const StatsSample* earlier = samples_.empty() ? nullptr : &samples_.front();
  LiveStatsReport report = Compare(earlier, sample);
  if (samples_.empty() || now_ms - samples_.back().time_ms >= options_.min_interval_ms) {
    samples_.push_back(std::move(sample));
  }
  return report;
}

}  // namespace streamrec::serving
