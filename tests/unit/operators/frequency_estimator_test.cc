#include "operators/frequency_estimator.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

TEST(FrequencyEstimatorTest, FollowsTheRecurrenceOnAPeriodicItem) {
  FrequencyEstimator est({1024, 2, 0.5});
  EXPECT_EQ(est.Estimate(7), 0.0);  // never seen
  est.Update(7, 10);
  EXPECT_EQ(est.Estimate(7), 0.0);  // seen once: no gap yet
  est.Update(7, 14);                // first gap 4 initialises B
  EXPECT_DOUBLE_EQ(est.Estimate(7), 0.25);
  est.Update(7, 22);                // B = 0.5 * 4 + 0.5 * 8 = 6
  EXPECT_DOUBLE_EQ(est.Estimate(7), 1.0 / 6.0);
}

TEST(FrequencyEstimatorTest, MaxOverHashesPicksTheLeastCollidedBucket) {
  // H = 1: every item shares the single bucket of each hash, so gaps are the gaps of the
  // merged stream.
  FrequencyEstimator est({1, 3, 1.0});
  est.Update(1, 1);
  est.Update(2, 2);
  EXPECT_DOUBLE_EQ(est.Estimate(1), 1.0);
  EXPECT_DOUBLE_EQ(est.Estimate(2), 1.0);
}

TEST(FrequencyEstimatorTest, BlocksRoundTrip) {
  FrequencyEstimatorOptions opt{1000, 2, 0.1};
  FrequencyEstimator est(opt);
  for (int t = 1; t <= 5000; ++t) est.Observe(static_cast<uint64_t>(t % 37));
  EXPECT_GT(est.dirty_blocks().size(), 0u);
  FrequencyEstimator copy(opt);
  for (size_t b = 0; b < est.num_blocks(); ++b) {
    ASSERT_TRUE(copy.ParseBlock(b, est.SerializeBlock(b)).ok());
  }
  copy.set_step(est.step());
  for (uint64_t k = 0; k < 37; ++k) EXPECT_EQ(copy.Estimate(k), est.Estimate(k)) << k;
  FrequencyEstimator other({2000, 2, 0.1});
  EXPECT_FALSE(other.ParseBlock(0, est.SerializeBlock(est.num_blocks() - 1)).ok());
}

// A Zipf(s = 1) stream over 1000 items. Bound: with α = 0.001 the gap average of a
// frequent item has relative standard deviation ≈ sqrt(α / (2 − α)) ≈ 2.2% (gaps are
// ~geometric, coefficient of variation ≈ 1), so 10% is ≈ 4.5 σ for each of the top 100
// items. Collisions only shorten gaps; with H = 65536 and m = 2 a top item shares both of
// its buckets with another item with probability ≈ (1000/65536)² ≈ 2e-4. Warm-up: the
// 100th item (p ≈ 1.3e-3) is seen ≈ 4000 times in 3M events, ≈ 4/α, enough for the
// average to forget its first gap.
TEST(FrequencyEstimatorTest, WithinTenPercentOfExactFrequenciesOnZipfStream) {
  constexpr int kItems = 1000;
  constexpr int kEvents = 3'000'000;
  std::vector<double> cdf(kItems);
  double sum = 0;
  for (int i = 0; i < kItems; ++i) cdf[i] = (sum += 1.0 / (i + 1));
  std::mt19937_64 rng(2019);
  std::uniform_real_distribution<double> u(0, sum);
  FrequencyEstimator est({1 << 16, 2, 0.001});
  std::vector<uint64_t> counts(kItems, 0);
  for (int t = 0; t < kEvents; ++t) {
    const int item = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    const uint64_t key = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(item + 1);
    ++counts[item];
    est.Observe(key);
  }
  double worst = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t key = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1);
    const double exact = static_cast<double>(counts[i]) / kEvents;
    const double rel = std::abs(est.Estimate(key) - exact) / exact;
    worst = std::max(worst, rel);
    EXPECT_LT(rel, 0.10) << "rank " << i + 1 << " exact " << exact << " est " << est.Estimate(key);
  }
  RecordProperty("worst_relative_error", std::to_string(worst));
}

TEST(FrequencyEstimatorTest, AggregatedUpdatesMatchPerEventRates) {
  // Items 1 and 2 appear 3:1 in every flush of 400 events; the spread-out sightings give
  // gaps of 400/300 and 400/100.
  FrequencyEstimator est({4096, 2, 0.05});
  for (int flush = 0; flush < 200; ++flush) est.UpdateAggregated({{1, 300}, {2, 100}}, 400);
  EXPECT_NEAR(est.Estimate(1), 0.75, 0.75 * 0.01);
  EXPECT_NEAR(est.Estimate(2), 0.25, 0.25 * 0.01);
  EXPECT_DOUBLE_EQ(est.step(), 200.0 * 400);
}

TEST(FrequencyEstimatorTest, OptionsFromConfig) {
  auto cfg = Config::FromYamlString("operators:\n  estimator:\n    array_size: 128\n    hashes: 3\n    alpha: 0.2\n");
  ASSERT_TRUE(cfg.ok());
  auto o = FrequencyEstimatorOptions::FromConfig(*cfg);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->array_size, 128u);
  EXPECT_EQ(o->num_hashes, 3);
  EXPECT_EQ(o->alpha, 0.2);
  auto bad = Config::FromYamlString("operators:\n  estimator:\n    alpha: 0\n");
  EXPECT_FALSE(FrequencyEstimatorOptions::FromConfig(*bad).ok());
}

}  // namespace
}  // namespace streamrec::operators
