#include "eval/baselines.h"

#include <cmath>

#include <gtest/gtest.h>

namespace streamrec::eval {
namespace {

using Ids = std::vector<std::string>;

TEST(PopularityBaselineTest, RanksByCountThenIdAndSkipsExcluded) {
  auto top = NewPopularityBaseline();
  EXPECT_TRUE(top->Recommend("u", {}, 3).empty());
  for (const char* item : {"b", "a", "c", "c", "b", "c"}) top->Observe("u1", item);
  // c: 3, b: 2, a: 1.
  EXPECT_EQ(top->Recommend("u2", {}, 2), (Ids{"c", "b"}));
  EXPECT_EQ(top->Recommend("u2", {"c"}, 5), (Ids{"b", "a"}));
  top->Observe("u3", "a");  // a: 2 ties with b: the smaller id first
  EXPECT_EQ(top->Recommend("u2", {}, 3), (Ids{"c", "a", "b"}));
}

TEST(MarkovBaselineTest, RanksSuccessorsOfTheUsersLastItem) {
  auto mc = NewMarkovBaseline();
  mc->Observe("u1", "a");
  mc->Observe("u1", "b");  // a -> b
  mc->Observe("u2", "a");
  mc->Observe("u2", "c");  // a -> c
  mc->Observe("u3", "a");
  mc->Observe("u3", "b");  // a -> b
  mc->Observe("u3", "a");  // b -> a
  EXPECT_TRUE(mc->Recommend("nobody", {}, 5).empty());
  mc->Observe("u4", "a");
  EXPECT_EQ(mc->Recommend("u4", {}, 5), (Ids{"b", "c"}));
  EXPECT_EQ(mc->Recommend("u4", {"b"}, 5), (Ids{"c"}));
  EXPECT_EQ(mc->Recommend("u1", {}, 5), (Ids{"a"}));  // u1's last item is b
  EXPECT_TRUE(mc->Recommend("u2", {}, 5).empty());    // c has no successor
}

TEST(ItemKnnBaselineTest, CosineOverUserCoOccurrenceWithDecayedHistory) {
  ItemKnnOptions options;
  options.gamma = 0.5;
  options.gamma_threshold = 0.1;
  auto knn = NewItemKnnBaseline(options);
  knn->Observe("u1", "a");
  knn->Observe("u1", "b");  // c_ab = 1
  knn->Observe("u2", "a");
  knn->Observe("u2", "c");  // c_ac = 1
  knn->Observe("u2", "a");  // a repeat: no new pair, a becomes u2's newest
  // users: a 2, b 1, c 1. u3 has b: sim(b, a) = 1 / sqrt(1 * 2).
  knn->Observe("u3", "b");  // u3: [b]; b now has 2 users
  // Now n_a = 2, n_b = 2, n_c = 1; c_ab = 1, c_ac = 1.
  EXPECT_EQ(knn->Recommend("u3", {"b"}, 5), (Ids{"a"}));
  // u2's history, newest first: a (weight 1), c (weight 0.5).
  // score(b) = 1 * c_ab / sqrt(2 * 2) = 0.5; a and c are excluded as seen.
  EXPECT_EQ(knn->Recommend("u2", {"a", "c"}, 5), (Ids{"b"}));
  // Without exclusion: a = 0.5 * c_ca / sqrt(1 * 2) = 0.354, c = 1 * c_ac / sqrt(2 * 1)
  // = 0.707, b = 0.5.
  EXPECT_EQ(knn->Recommend("u2", {}, 5), (Ids{"c", "b", "a"}));
  EXPECT_TRUE(knn->Recommend("stranger", {}, 5).empty());
}

TEST(BaselineTest, ByName) {
  EXPECT_TRUE(NewBaseline("top").ok());
  EXPECT_TRUE(NewBaseline("mc").ok());
  EXPECT_TRUE(NewBaseline("itemknn").ok());
  EXPECT_FALSE(NewBaseline("svd").ok());
}

}  // namespace
}  // namespace streamrec::eval
