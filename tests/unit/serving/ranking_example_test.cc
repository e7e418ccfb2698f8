#include "serving/ranking_example.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

RankerCapture Capture(size_t n) {
  RankerCapture c;
  for (size_t i = 0; i < n; ++i) c.item_keys.push_back(100 + i);
  for (size_t i = 0; i < n * kRankerFeatures; ++i) c.features.push_back(0.25f * static_cast<float>(i % 7));
  return c;
}

RankingExample Example() {
  RankingExample e;
  EXPECT_TRUE(MakeRankingExample(Capture(5), 102, &e));
  e.user_key = 42;
  e.user_id = "u42";
  e.ts_ms = 1732270000123;
  return e;
}

TEST(RankingExample, MadeOnlyWhenTheClickedItemIsACandidate) {
  RankingExample e;
  ASSERT_TRUE(MakeRankingExample(Capture(5), 103, &e));
  EXPECT_EQ(e.positive, 3u);
  EXPECT_EQ(e.item_key, 103u);
  EXPECT_EQ(e.num_features, static_cast<uint32_t>(kRankerFeatures));
  EXPECT_EQ(e.candidates(), 5u);
  RankingExample none;
  EXPECT_FALSE(MakeRankingExample(Capture(5), 999, &none));  // recall missed it
  EXPECT_FALSE(MakeRankingExample(Capture(1), 100, &none));  // a list of one teaches nothing
  EXPECT_FALSE(MakeRankingExample(RankerCapture(), 100, &none));
  EXPECT_TRUE(none.features.empty());
}

TEST(RankingExample, RoundTrips) {
  const RankingExample e = Example();
  const std::string bytes = EncodeRankingExample(e);
  EXPECT_EQ(bytes.size(), 1 + 8 + 4 + 3 + 8 + 8 + 4 + 4 + 4 + 5 * kRankerFeatures * 4);
  auto back = DecodeRankingExample(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, e);
  EXPECT_EQ(back->positive, 2u);
  EXPECT_EQ(back->user_id, "u42");
}

TEST(RankingExample, CorruptInputIsRefused) {
  const std::string good = EncodeRankingExample(Example());
  EXPECT_FALSE(DecodeRankingExample("").ok());
  std::string other = good;
  other[0] = 2;  // another format
  EXPECT_FALSE(DecodeRankingExample(other).ok());
  // Every truncation and a trailing byte.
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_FALSE(DecodeRankingExample(good.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeRankingExample(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(DecodeRankingExample(good + "x").ok());

  RankingExample e = Example();
  e.positive = 5;  // out of range
  EXPECT_FALSE(DecodeRankingExample(EncodeRankingExample(e)).ok());
  e = Example();
  e.features[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(DecodeRankingExample(EncodeRankingExample(e)).ok());
  e = Example();
  e.features[7] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(DecodeRankingExample(EncodeRankingExample(e)).ok());
  e = Example();
  e.features.resize(kRankerFeatures);  // one candidate
  e.positive = 0;
  EXPECT_FALSE(DecodeRankingExample(EncodeRankingExample(e)).ok());
  e = Example();
  e.num_features = 0;
  EXPECT_FALSE(DecodeRankingExample(EncodeRankingExample(e)).ok());
  // A candidate count that does not match the bytes that follow.
  std::string lying = good;
  const size_t count_at = 1 + 8 + 4 + 3 + 8 + 8 + 4 + 4;
  lying[count_at] = 6;
  EXPECT_FALSE(DecodeRankingExample(lying).ok());
  lying[count_at] = static_cast<char>(0xff);
  lying[count_at + 3] = static_cast<char>(0xff);
  EXPECT_FALSE(DecodeRankingExample(lying).ok());
}

TEST(RankingExample, SamplingFollowsTheRateAndIsDeterministic) {
  EXPECT_FALSE(SampleRankingExample(0, 1, 2, 3));
  EXPECT_FALSE(SampleRankingExample(-1, 1, 2, 3));
  EXPECT_TRUE(SampleRankingExample(1, 1, 2, 3));
  int sampled = 0;
  for (int i = 0; i < 20000; ++i) {
    const bool s = SampleRankingExample(0.1, 7 + i % 13, 1000 + i, 1732270000000 + i);
    EXPECT_EQ(s, SampleRankingExample(0.1, 7 + i % 13, 1000 + i, 1732270000000 + i));
    sampled += s ? 1 : 0;
  }
  // 2,000 expected; 5 standard deviations (42) either side.
  EXPECT_GT(sampled, 1790);
  EXPECT_LT(sampled, 2210);
}

}  // namespace
}  // namespace streamrec::serving
