#include "core/metrics_snapshot.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace streamrec {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

HistogramReading Buckets(std::vector<double> bounds, std::vector<double> cumulative) {
  HistogramReading h;
  h.upper_bounds = std::move(bounds);
  h.cumulative_counts = std::move(cumulative);
  h.count = h.cumulative_counts.empty() ? 0 : h.cumulative_counts.back();
  return h;
}

TEST(HistogramQuantileTest, InterpolatesInsideTheBucketLikePrometheus) {
  // 10 observations in (0,1], 10 in (1,2].
  const HistogramReading h = Buckets({1, 2, 4, kInf}, {10, 20, 20, 20});
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, h), 1.0);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.75, h), 1.5);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.25, h), 0.5);
  EXPECT_DOUBLE_EQ(HistogramQuantile(1.0, h), 2.0);
}

TEST(HistogramQuantileTest, InTheInfBucketAnswersTheHighestFiniteBound) {
  const HistogramReading h = Buckets({1, 2, 4, kInf}, {10, 20, 20, 25});
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, h), 4.0);
}

TEST(HistogramQuantileTest, NaNWithoutObservationsOrWithoutTheInfBucket) {
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.99, HistogramReading{})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.99, Buckets({1, kInf}, {0, 0}))));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, Buckets({1, 2}, {1, 2}))));
}

TEST(HistogramDeltaTest, SubtractsBucketByBucketAndRestartsFromZero) {
  const HistogramReading a = Buckets({1, 2, kInf}, {5, 6, 6});
  const HistogramReading b = Buckets({1, 2, kInf}, {5, 10, 12});
  const HistogramReading d = HistogramDelta(a, b);
  EXPECT_EQ(d.cumulative_counts, (std::vector<double>{0, 4, 6}));
  EXPECT_DOUBLE_EQ(d.count, 6);
  // Rank 3 of the interval's 6 lies 3/4 into (1,2], which holds 4 of them.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, d), 1.75);
  // The later reading has fewer observations: a restart, so the later one is the delta.
  const HistogramReading restarted = HistogramDelta(b, a);
  EXPECT_EQ(restarted.cumulative_counts, a.cumulative_counts);
}

class MetricsSnapshotTest : public ::testing::Test {
 protected:
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& consumed_ =
      prometheus::BuildCounter().Name("streamrec_events_consumed_total").Register(registry_);
  prometheus::Family<prometheus::Counter>& rejected_ =
      prometheus::BuildCounter().Name("streamrec_events_rejected_total").Register(registry_);
  prometheus::Family<prometheus::Gauge>& lag_ =
      prometheus::BuildGauge().Name("streamrec_consumer_lag").Register(registry_);
  prometheus::Family<prometheus::Gauge>& version_ =
      prometheus::BuildGauge().Name("streamrec_model_version").Register(registry_);
  prometheus::Family<prometheus::Gauge>& created_ =
      prometheus::BuildGauge().Name("streamrec_model_created_timestamp_seconds").Register(registry_);
  prometheus::Family<prometheus::Histogram>& requests_ =
      prometheus::BuildHistogram().Name("streamrec_serving_request_seconds").Register(registry_);
  prometheus::Family<prometheus::Histogram>& freshness_ =
      prometheus::BuildHistogram().Name("streamrec_serving_freshness_seconds").Register(registry_);
  prometheus::Family<prometheus::Gauge>& behind_ =
      prometheus::BuildGauge().Name("streamrec_consumer_behind_seconds").Register(registry_);
  const prometheus::Histogram::BucketBoundaries bounds_{0.001, 0.01, 0.1, 1};
};

TEST_F(MetricsSnapshotTest, EmptyRegistryReadsAsNothingKnown) {
  const MetricsSnapshot s = ReadMetricsSnapshot(registry_);
  EXPECT_EQ(s.events_in_total, 0);
  EXPECT_FALSE(s.consumer_lag.has_value());
  EXPECT_FALSE(s.model_version.has_value());
  EXPECT_FALSE(s.ModelAgeSeconds().has_value());
  EXPECT_FALSE(s.behind_seconds.has_value());
  EXPECT_EQ(s.freshness_seconds.count, 0);
  EXPECT_EQ(s.request_seconds.count, 0);
  EXPECT_TRUE(s.request_seconds.upper_bounds.empty());
  EXPECT_GT(s.taken_at_unix_s, 1.5e9);
}

TEST_F(MetricsSnapshotTest, ReadsTheStatusFigures) {
  consumed_.Add({{"stage", "user"}, {"topic", "clicks"}}).Increment(10);
  consumed_.Add({{"stage", "serving"}, {"topic", "clicks"}}).Increment(7);
  consumed_.Add({{"stage", "item"}, {"topic", "streamrec.cooc-deltas"}}).Increment(100);
  rejected_.Add({{"reason", "bad_json"}}).Increment(2);
  rejected_.Add({{"reason", "unknown_event"}});
  lag_.Add({{"stage", "user"}, {"topic", "clicks"}, {"partition", "0"}}).Set(3);
  lag_.Add({{"stage", "item"}, {"topic", "streamrec.cooc-deltas"}, {"partition", "1"}}).Set(4);
  version_.Add({{"component", "trainer"}}).Set(9);
  version_.Add({{"component", "two_tower"}}).Set(7);
  created_.Add({{"component", "trainer"}}).Set(1);
  created_.Add({{"component", "two_tower"}}).Set(1.7e9);
  auto& recs = requests_.Add({{"path", "/v1/recommendations"}}, bounds_);
  for (int i = 0; i < 99; ++i) recs.Observe(0.005);
  requests_.Add({{"path", "/v1/events"}}, bounds_).Observe(0.5);
  auto& scrape = requests_.Add({{"path", "/metrics"}}, bounds_);
  for (int i = 0; i < 1000; ++i) scrape.Observe(0.0001);
  behind_.Add({{"stage", "serving"}, {"topic", "clicks"}, {"partition", "0"}}).Set(0.5);
  behind_.Add({{"stage", "serving"}, {"topic", "clicks"}, {"partition", "1"}}).Set(2.5);
  behind_.Add({{"stage", "user"}, {"topic", "clicks"}, {"partition", "0"}}).Set(60);

  const MetricsSnapshot s = ReadMetricsSnapshot(registry_);
  EXPECT_EQ(s.events_in_total, 10);  // the user stage's, not user + serving
  EXPECT_EQ(s.events_rejected_total, 2);
  ASSERT_TRUE(s.consumer_lag.has_value());
  EXPECT_EQ(*s.consumer_lag, 7);
  ASSERT_TRUE(s.model_version.has_value());
  EXPECT_EQ(*s.model_version, 7);
  ASSERT_TRUE(s.model_created_unix_s.has_value());
  EXPECT_EQ(*s.model_created_unix_s, 1.7e9);
  ASSERT_TRUE(s.ModelAgeSeconds().has_value());
  EXPECT_NEAR(*s.ModelAgeSeconds(), s.taken_at_unix_s - 1.7e9, 1e-6);
  EXPECT_EQ(s.request_seconds.count, 100);  // /metrics is not traffic
  EXPECT_EQ(s.request_seconds.upper_bounds,
            (std::vector<double>{0.001, 0.01, 0.1, 1, kInf}));
  EXPECT_EQ(s.request_seconds.cumulative_counts, (std::vector<double>{0, 99, 99, 100, 100}));
  // Rank 99 of 100 is the last observation of (0.001, 0.01].
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, s.request_seconds), 0.01);
  ASSERT_TRUE(s.behind_seconds.has_value());
  EXPECT_EQ(*s.behind_seconds, 2.5);  // the serving stage's furthest-behind partition
  EXPECT_EQ(s.freshness_seconds.count, 0);

  MetricsSnapshotOptions other;
  other.input_topic = "streamrec.cooc-deltas";
  other.model_component = "trainer";
  other.excluded_paths.clear();
  other.behind_stage = "item";
  const MetricsSnapshot t = ReadMetricsSnapshot(registry_, other);
  EXPECT_FALSE(t.behind_seconds.has_value());
  EXPECT_EQ(t.events_in_total, 100);
  EXPECT_EQ(*t.model_version, 9);
  EXPECT_EQ(t.request_seconds.count, 1100);
}

TEST_F(MetricsSnapshotTest, RatesBetweenTwoReadings) {
  auto& in = consumed_.Add({{"stage", "user"}, {"topic", "clicks"}});
  auto& recs = requests_.Add({{"path", "/v1/recommendations"}}, bounds_);
  auto& fresh = freshness_.Add({}, bounds_);
  in.Increment(50);
  recs.Observe(0.0005);
  MetricsSnapshot a = ReadMetricsSnapshot(registry_);
  in.Increment(20);
  for (int i = 0; i < 4; ++i) recs.Observe(0.05);
  fresh.Observe(0.2);
  MetricsSnapshot b = ReadMetricsSnapshot(registry_);
  b.taken_at = a.taken_at + std::chrono::seconds(2);

  const MetricsRates r = RatesBetween(a, b);
  EXPECT_DOUBLE_EQ(r.interval_seconds, 2.0);
  EXPECT_DOUBLE_EQ(r.events_in_per_second, 10.0);
  EXPECT_DOUBLE_EQ(r.requests_per_second, 2.0);
  // Only the interval's 4 requests, all in (0.01, 0.1]: not the earlier fast one.
  EXPECT_NEAR(r.request_p99_seconds, 0.01 + 0.09 * (3.96 / 4), 1e-12);
  EXPECT_NEAR(r.freshness_p99_seconds, 0.1 + 0.9 * 0.99, 1e-12);

  // Nothing observed in an interval: rates are zero, percentiles unknown.
  MetricsSnapshot c = ReadMetricsSnapshot(registry_);
  c.taken_at = b.taken_at + std::chrono::seconds(1);
  const MetricsRates idle = RatesBetween(b, c);
  EXPECT_DOUBLE_EQ(idle.events_in_per_second, 0);
  EXPECT_DOUBLE_EQ(idle.requests_per_second, 0);
  EXPECT_TRUE(std::isnan(idle.request_p99_seconds));

  // Readings out of order give no rates rather than negative ones.
  const MetricsRates backwards = RatesBetween(c, a);
  EXPECT_DOUBLE_EQ(backwards.interval_seconds, 0);
  EXPECT_DOUBLE_EQ(backwards.events_in_per_second, 0);
}

}  // namespace
}  // namespace streamrec
