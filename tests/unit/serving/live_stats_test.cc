#include "serving/live_stats.h"

#include <cmath>
#include <limits>
#include <memory>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace streamrec::serving {
namespace {

const std::vector<double> kBounds = {0.001, 0.01, 0.1, std::numeric_limits<double>::infinity()};

TEST(HistogramQuantileTest, InterpolatesLikePromQL) {
  const std::vector<double> counts = {0, 50, 100, 100};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, kBounds, counts), 0.01);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.25, kBounds, counts), 0.0055);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, kBounds, counts), 0.01 + 0.09 * 49.0 / 50.0);
  // Observations above the highest finite bound: that bound is the answer.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, kBounds, {0, 0, 0, 10}), 0.1);
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.99, kBounds, {0, 0, 0, 0})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.99, {}, {})));
}

class LiveStatsTest : public ::testing::Test {
 protected:
  LiveStatsTest() : registry_(std::make_shared<prometheus::Registry>()) {
    auto& consumed = prometheus::BuildCounter().Name("streamrec_events_consumed_total").Register(*registry_);
    clicks_ = &consumed.Add({{"stage", "serving"}, {"topic", "clicks"}});
    other_ = &consumed.Add({{"stage", "user"}, {"topic", "clicks"}});
    auto& latency =
        prometheus::BuildHistogram().Name("streamrec_serving_request_seconds").Register(*registry_);
    recs_ = &latency.Add({{"path", "/v1/recommendations"}},
                         prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1});
    health_ = &latency.Add({{"path", "/healthz"}},
                           prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1});
    auto& version = prometheus::BuildGauge().Name("streamrec_model_version").Register(*registry_);
    served_ = &version.Add({{"component", "two_tower"}});
    trainer_ = &version.Add({{"component", "trainer"}});
    newest_ = &prometheus::BuildGauge().Name(kNewestEventMetric).Register(*registry_).Add({});
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* clicks_;
  prometheus::Counter* other_;
  prometheus::Histogram* recs_;
  prometheus::Histogram* health_;
  prometheus::Gauge* served_;
  prometheus::Gauge* trainer_;
  prometheus::Gauge* newest_;
};

TEST_F(LiveStatsTest, SumSeriesFiltersByLabels) {
  clicks_->Increment(3);
  other_->Increment(4);
  const auto families = registry_->Collect();
  EXPECT_EQ(SumSeries(families, "streamrec_events_consumed_total", {}), 7);
  EXPECT_EQ(SumSeries(families, "streamrec_events_consumed_total", {{"stage", "serving"}}), 3);
  EXPECT_TRUE(std::isnan(SumSeries(families, "streamrec_events_consumed_total", {{"stage", "x"}})));
  EXPECT_TRUE(std::isnan(SumSeries(families, "streamrec_no_such_metric", {})));
}

TEST_F(LiveStatsTest, RatesAndQuantilesOverTheWindow) {
  LiveStats stats;  // window 5 s, readings kept at most every 200 ms
  served_->Set(7);
  trainer_->Set(9);
  LiveStatsReport first = stats.Read(registry_->Collect(), 1000);
  EXPECT_TRUE(std::isnan(first.events_per_s));  // nothing to compare with yet
  EXPECT_TRUE(std::isnan(first.p99_ms));
  EXPECT_TRUE(std::isnan(first.freshness_s));   // no click applied yet
  EXPECT_EQ(first.model_version, 7);            // the served component, not the trainer's

  clicks_->Increment(500);
  other_->Increment(10000);  // another stage's consumption is not serving's events/s
  for (int i = 0; i < 10; ++i) recs_->Observe(0.005);
  for (int i = 0; i < 10; ++i) health_->Observe(0.5);  // other routes are not the p99
  newest_->Set(1.75);
  LiveStatsReport second = stats.Read(registry_->Collect(), 2000);
  EXPECT_DOUBLE_EQ(second.window_s, 1.0);
  EXPECT_DOUBLE_EQ(second.events_per_s, 500);
  EXPECT_DOUBLE_EQ(second.requests_per_s, 10);
  EXPECT_NEAR(second.p50_ms, 1 + 9 * 0.5, 1e-9);
  EXPECT_NEAR(second.p99_ms, 1 + 9 * 0.99, 1e-9);
  EXPECT_DOUBLE_EQ(second.freshness_s, 0.25);

  // Too soon after the last kept reading to be kept; still compared with the oldest.
  LiveStatsReport third = stats.Read(registry_->Collect(), 2100);
  EXPECT_DOUBLE_EQ(third.window_s, 1.1);

  // Later than the window: compared with the newest reading at or before its start
  // (t=2000), so the 500 events and 10 requests before it are out.
  clicks_->Increment(600);
  recs_->Observe(0.05);
  LiveStatsReport later = stats.Read(registry_->Collect(), 8000);
  EXPECT_DOUBLE_EQ(later.window_s, 6.0);
  EXPECT_DOUBLE_EQ(later.events_per_s, 100);
  EXPECT_NEAR(later.requests_per_s, 1.0 / 6.0, 1e-12);
  EXPECT_NEAR(later.p99_ms, 10 + 90 * 0.99, 1e-9);

  // No request in the window: no latency to report.
  LiveStatsReport idle = stats.Read(registry_->Collect(), 14000);
  EXPECT_EQ(idle.requests_per_s, 0);
  EXPECT_TRUE(std::isnan(idle.p99_ms));
  EXPECT_GT(idle.freshness_s, 12);
}

TEST(LiveStatsEncodingTest, UnknownFiguresAreNull) {
  LiveStatsReport r = Compare(nullptr, StatsSample{});
  EXPECT_EQ(EncodeLiveStats(r),
            R"({"time_ms":0,"window_s":null,"events_per_s":null,"requests_per_s":null,)"
            R"("p50_ms":null,"p99_ms":null,"model_version":0,"freshness_s":null})");
  LiveStatsReport known;
  known.time_ms = 5;
  known.window_s = 2;
  known.events_per_s = 1500.5;
  known.requests_per_s = 3;
  known.p50_ms = 0.5;
  known.p99_ms = 4.25;
  known.model_version = 12;
  known.freshness_s = 0.02;
  EXPECT_EQ(EncodeLiveStats(known),
            R"({"time_ms":5,"window_s":2,"events_per_s":1500.5,"requests_per_s":3,)"
            R"("p50_ms":0.5,"p99_ms":4.25,"model_version":12,"freshness_s":0.02})");
}

}  // namespace
}  // namespace streamrec::serving
