#include "operators/pair_counts.h"

#include <algorithm>
#include <map>
#include <random>

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

using Reference = std::map<std::pair<uint64_t, uint64_t>, double>;

std::map<std::pair<uint64_t, uint64_t>, double> AllOf(const PairCounts& counts) {
  std::map<std::pair<uint64_t, uint64_t>, double> out;
  counts.ForEach([&out](uint64_t a, uint64_t b, double c) {
    EXPECT_TRUE(out.emplace(std::make_pair(a, b), c).second) << "pair listed twice";
  });
  return out;
}

// Random increments over enough items and neighbours that the key index and many rows
// grow several times; Add and AddAll must give exactly the sums of a plain map summed
// in the same order.
TEST(PairCountsTest, SumsEqualAPlainMapSummedInTheSameOrder) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> item(0, 4000);
  std::uniform_int_distribution<int> weight(1, 7);
  PairCounts one_by_one, batched;
  Reference ref;
  std::vector<PairCounts::Increment> batch;
  for (int i = 0; i < 200000; ++i) {
    // Small keys, large hash-like keys and 0 alike.
    const uint64_t a = (i % 3 == 0) ? item(rng) * 0x9e3779b97f4a7c15ULL : item(rng);
    const uint64_t b = item(rng);
    const double w = weight(rng) * 0.1;  // non-integer: the order of sums shows
    one_by_one.Add(a, b, w);
    batch.push_back({a, b, w});
    if (batch.size() == 37) {
      batched.AddAll(batch);
      batch.clear();
    }
    ref[{a, b}] += w;
  }
  batched.AddAll(batch);
  EXPECT_EQ(one_by_one.size(), ref.size());
  EXPECT_EQ(batched.size(), ref.size());
  EXPECT_EQ(AllOf(one_by_one), ref);  // bit-identical doubles
  EXPECT_EQ(AllOf(batched), ref);
}

TEST(PairCountsTest, RowListsEachNeighbourOnceAndUnknownItemsHaveNone) {
  PairCounts counts;
  counts.Add(1, 2, 1.0);
  counts.Add(2, 1, 1.0);
  counts.Add(1, 3, 2.0);
  counts.Add(1, 2, 0.5);
  auto row = counts.Row(1);
  std::sort(row.begin(), row.end());
  EXPECT_EQ(row, (std::vector<std::pair<uint64_t, double>>{{2, 1.5}, {3, 2.0}}));
  EXPECT_EQ(counts.Row(2), (std::vector<std::pair<uint64_t, double>>{{1, 1.0}}));
  EXPECT_TRUE(counts.Row(3).empty());  // only ever a neighbour
  EXPECT_TRUE(counts.Row(99).empty());
  EXPECT_EQ(counts.size(), 3u);
}

}  // namespace
}  // namespace streamrec::operators
