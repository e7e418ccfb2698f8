#include "operators/similarity.h"

#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

TEST(SimilarityTest, ScoresFollowTheirDefinitions) {
  // c_ab = 2, c_a = 4, c_b = 9, total = 100.
  EXPECT_DOUBLE_EQ(SimilarityScore(Similarity::kCount, 2, 4, 9, 100), 2.0);
  EXPECT_DOUBLE_EQ(SimilarityScore(Similarity::kCosine, 2, 4, 9, 100), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(SimilarityScore(Similarity::kJaccard, 2, 4, 9, 100), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(SimilarityScore(Similarity::kLift, 2, 4, 9, 100), 200.0 / 36.0);
  EXPECT_EQ(SimilarityScore(Similarity::kCosine, 2, 0, 9, 100), 0.0);
  EXPECT_EQ(SimilarityScore(Similarity::kLift, 2, 4, 0, 100), 0.0);
}

TEST(SimilarityTest, ParseNames) {
  for (auto s : {Similarity::kCount, Similarity::kCosine, Similarity::kJaccard, Similarity::kLift}) {
    auto parsed = ParseSimilarity(SimilarityName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParseSimilarity("pearson").ok());
}

TEST(TopKListTest, KeepsBestKWithDeterministicTies) {
  TopKList list(3);
  list.Rebuild({{5, "", 1.0, 1}, {4, "", 2.0, 2}, {3, "", 1.0, 1}, {2, "", 0.5, 1}, {1, "", 2.0, 2}});
  ASSERT_EQ(list.neighbors().size(), 3u);
  EXPECT_EQ(list.neighbors()[0].item_key, 1u);
  EXPECT_EQ(list.neighbors()[1].item_key, 4u);
  EXPECT_EQ(list.neighbors()[2].item_key, 3u);  // tie 1.0: smaller key first
  auto parsed = TopKList::Parse(list.Serialize(), 3);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->neighbors(), list.neighbors());
  EXPECT_FALSE(TopKList::Parse(list.Serialize().substr(1), 3).ok());
}

// Simulates the item stage for one item a: pair increments arrive in batches; after each
// batch the list is updated with the changed neighbours as candidates and compared with
// the exact top-K over all neighbours. Under count similarity a neighbour's score only
// moves when its pair count does, so the incremental list is always exact. Under the
// normalised similarities a member's score can fall below an outsider's that was not a
// candidate, so there the list is exact while a has at most K neighbours (nobody was ever
// dropped) and afterwards it is the exact top-K of members plus candidates.
void CheckIncrementalEqualsExact(Similarity sim, int num_neighbours) {
  std::mt19937_64 rng(42 + static_cast<int>(sim));
  std::map<uint64_t, double> c_ab, c_b;
  double c_a = 0, total = 1000;
  TopKList list(5);
  for (int batch = 0; batch < 300; ++batch) {
    std::vector<uint64_t> changed;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      const uint64_t b = 1 + rng() % static_cast<uint64_t>(num_neighbours);
      const double w = 1 + static_cast<double>(rng() % 3);
      c_ab[b] += w;
      c_b[b] += w + static_cast<double>(rng() % 2);
      c_a += w;
      total += 2 * w;
      changed.push_back(b);
    }
    auto score_of = [&](uint64_t b) {
      return Neighbor{b, "", SimilarityScore(sim, c_ab[b], c_a, c_b[b], total), c_ab[b]};
    };
    list.Update(changed, score_of);
    std::vector<Neighbor> all;
    for (const auto& [b, c] : c_ab) all.push_back(score_of(b));
    TopKList exact(5);
    exact.Rebuild(all);
    ASSERT_EQ(list.neighbors(), exact.neighbors()) << SimilarityName(sim) << " batch " << batch;
  }
}

TEST(TopKListTest, IncrementalEqualsExactUnderCount) { CheckIncrementalEqualsExact(Similarity::kCount, 40); }
TEST(TopKListTest, IncrementalEqualsExactUnderCosineWithinK) {
  CheckIncrementalEqualsExact(Similarity::kCosine, 5);
}
TEST(TopKListTest, IncrementalEqualsExactUnderLiftWithinK) {
  CheckIncrementalEqualsExact(Similarity::kLift, 5);
}
TEST(TopKListTest, IncrementalEqualsExactUnderJaccardWithinK) {
  CheckIncrementalEqualsExact(Similarity::kJaccard, 5);
}

// Jaccard's order can change when only c_a moves, so for it the guarantee is the one
// Update documents: every member and every changed candidate is rescored, and the result
// equals the exact top-K over those.
TEST(TopKListTest, JaccardUpdateRescoresMembersAndCandidates) {
  std::map<uint64_t, double> c_ab = {{1, 5}, {2, 4}, {3, 3}, {4, 1}};
  std::map<uint64_t, double> c_b = {{1, 50}, {2, 4}, {3, 3}, {4, 1}};
  double c_a = 10;
  auto score_of = [&](uint64_t b) {
    return Neighbor{b, "", SimilarityScore(Similarity::kJaccard, c_ab[b], c_a, c_b[b], 0), c_ab[b]};
  };
  TopKList list(2);
  list.Update({1, 2, 3, 4}, score_of);
  // jaccard: 1 -> 5/55, 2 -> 4/10, 3 -> 3/10, 4 -> 1/10
  ASSERT_EQ(list.neighbors().size(), 2u);
  EXPECT_EQ(list.neighbors()[0].item_key, 2u);
  EXPECT_EQ(list.neighbors()[1].item_key, 3u);
  c_ab[1] = 40;  // 40 / (10 + 50 - 40) = 2.0
  list.Update({1}, score_of);
  EXPECT_EQ(list.neighbors()[0].item_key, 1u);
  EXPECT_DOUBLE_EQ(list.neighbors()[0].score, 2.0);
  EXPECT_EQ(list.neighbors()[1].item_key, 2u);
  // A neighbour whose count dropped to zero leaves the list.
  c_ab[2] = 0;
  list.Update({}, score_of);
  EXPECT_EQ(list.neighbors().size(), 1u);
}

}  // namespace
}  // namespace streamrec::operators
