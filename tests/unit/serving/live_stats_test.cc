#include "serving/live_stats.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace streamrec::serving {
namespace {

using std::chrono::milliseconds;
constexpr double kInf = std::numeric_limits<double>::infinity();

// A reading taken `at_ms` after an arbitrary origin, `events` clicks in so far, and
// `requests_under_10ms` + `requests_over_10ms` requests served (buckets 1 ms, 10 ms, +Inf).
MetricsSnapshot Reading(int64_t at_ms, double events, double requests_under_10ms,
                        double requests_over_10ms = 0) {
  MetricsSnapshot s;
  s.taken_at = std::chrono::steady_clock::time_point(milliseconds(at_ms));
  s.taken_at_unix_s = 1'700'000'000.0 + static_cast<double>(at_ms) / 1000.0;
  s.events_in_total = events;
  s.request_seconds.upper_bounds = {0.001, 0.01, kInf};
  const double all = requests_under_10ms + requests_over_10ms;
  s.request_seconds.cumulative_counts = {0, requests_under_10ms, all};
  s.request_seconds.count = all;
  return s;
}

TEST(LiveStatsTest, RatesOverAboutTheLastWindow) {
  LiveStats stats;  // window 5 s, readings kept at most every 200 ms
  LiveStatsReport first = stats.Add(Reading(1000, 100, 0));
  EXPECT_TRUE(std::isnan(first.events_per_s));  // nothing to compare with yet
  EXPECT_TRUE(std::isnan(first.window_s));
  EXPECT_EQ(first.time_ms, 1'700'000'001'000);

  LiveStatsReport second = stats.Add(Reading(2000, 600, 10));
  EXPECT_DOUBLE_EQ(second.window_s, 1.0);
  EXPECT_DOUBLE_EQ(second.events_per_s, 500);
  EXPECT_DOUBLE_EQ(second.requests_per_s, 10);
  EXPECT_NEAR(second.p99_ms, 1 + 9 * 0.99, 1e-9);  // inside the (1 ms, 10 ms] bucket

  // Too soon after the last kept reading to be kept; still compared with the oldest.
  LiveStatsReport third = stats.Add(Reading(2100, 700, 10));
  EXPECT_DOUBLE_EQ(third.window_s, 1.1);

  // Past the window: compared with the newest reading from before its start (t=2000),
  // so what happened before that is out.
  LiveStatsReport later = stats.Add(Reading(8000, 1200, 10, 1));
  EXPECT_DOUBLE_EQ(later.window_s, 6.0);
  EXPECT_DOUBLE_EQ(later.events_per_s, 100);
  EXPECT_NEAR(later.requests_per_s, 1.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(later.p99_ms, 10);  // in +Inf: the highest finite bound

  // No request in the window: no latency to report.
  LiveStatsReport idle = stats.Add(Reading(14000, 1200, 10, 1));
  EXPECT_EQ(idle.requests_per_s, 0);
  EXPECT_EQ(idle.events_per_s, 0);
  EXPECT_TRUE(std::isnan(idle.p99_ms));
}

TEST(LiveStatsTest, ModelAgeAndLagWhenKnown) {
  MetricsSnapshot s = Reading(0, 0, 0);
  LiveStatsReport unknown = Report(nullptr, s);
  EXPECT_TRUE(std::isnan(unknown.model_version));
  EXPECT_TRUE(std::isnan(unknown.model_age_s));
  EXPECT_TRUE(std::isnan(unknown.consumer_lag));
  s.model_version = 7;
  s.model_created_unix_s = s.taken_at_unix_s - 12.5;
  s.consumer_lag = 42;
  LiveStatsReport known = Report(nullptr, s);
  EXPECT_EQ(known.model_version, 7);
  EXPECT_DOUBLE_EQ(known.model_age_s, 12.5);
  EXPECT_EQ(known.consumer_lag, 42);
}

TEST(LiveStatsTest, ReadsARegistryLeavingTheStorefrontsOwnRoutesOut) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& latency = prometheus::BuildHistogram().Name("streamrec_serving_request_seconds").Register(*registry);
  auto& recs = latency.Add({{"path", "/v1/recommendations"}}, prometheus::Histogram::BucketBoundaries{0.001, 0.01});
  auto& page = latency.Add({{"path", "/v1/stats"}}, prometheus::Histogram::BucketBoundaries{0.001, 0.01});
  auto& consumed = prometheus::BuildCounter().Name("streamrec_events_consumed_total").Register(*registry);
  auto& serving_clicks = consumed.Add({{"stage", "serving"}, {"topic", "my-clicks"}});
  LiveStatsOptions options;
  options.snapshot.input_topic = "my-clicks";
  LiveStats stats(options);
  stats.Read(*registry);
  for (int i = 0; i < 4; ++i) recs.Observe(0.005);
  for (int i = 0; i < 100; ++i) page.Observe(5);  // the panel's own polling
  serving_clicks.Increment(50);
  std::this_thread::sleep_for(milliseconds(5));
  LiveStatsReport r = stats.Read(*registry);
  ASSERT_GT(r.window_s, 0);
  EXPECT_NEAR(r.requests_per_s * r.window_s, 4, 1e-9);
  EXPECT_NEAR(r.events_per_s * r.window_s, 50, 1e-9);
  EXPECT_LE(r.p99_ms, 10);  // the slow /v1/stats observations are not in it
}

TEST(LiveStatsEncodingTest, UnknownFiguresAreNull) {
  LiveStatsReport r = Report(nullptr, MetricsSnapshot{});
  EXPECT_EQ(EncodeLiveStats(r),
            R"({"time_ms":0,"window_s":null,"events_per_s":null,"requests_per_s":null,)"
            R"("p99_ms":null,"freshness_p99_ms":null,"model_version":null,"model_age_s":null,)"
            R"("consumer_lag":null})");
  LiveStatsReport known;
  known.time_ms = 5;
  known.window_s = 2;
  known.events_per_s = 1500.5;
  known.requests_per_s = 3;
  known.p99_ms = 4.25;
  known.freshness_p99_ms = 12;
  known.model_version = 12;
  known.model_age_s = 30;
  known.consumer_lag = 0;
  EXPECT_EQ(EncodeLiveStats(known),
            R"({"time_ms":5,"window_s":2,"events_per_s":1500.5,"requests_per_s":3,"p99_ms":4.25,)"
            R"("freshness_p99_ms":12,"model_version":12,"model_age_s":30,"consumer_lag":0})");
}

}  // namespace
}  // namespace streamrec::serving
