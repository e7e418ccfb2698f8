#include "training/id_table.h"

#include <gtest/gtest.h>

namespace streamrec::training {
namespace {

TEST(IdTableTest, AssignsDistinctRowsAndFindsThem) {
  IdTable t(3);
  auto a = t.LookupOrInsert(100);
  auto b = t.LookupOrInsert(200);
  EXPECT_TRUE(a.fresh);
  EXPECT_TRUE(b.fresh);
  EXPECT_EQ(a.row, 1);
  EXPECT_EQ(b.row, 2);
  auto again = t.LookupOrInsert(100);
  EXPECT_FALSE(again.fresh);
  EXPECT_EQ(again.row, 1);
  EXPECT_EQ(t.Find(200), 2);
  EXPECT_EQ(t.Find(300), 0);
  EXPECT_EQ(t.size(), 2);
}

TEST(IdTableTest, EvictsLeastRecentlySeenWhenFull) {
  IdTable t(2);
  t.LookupOrInsert(1);  // row 1
  t.LookupOrInsert(2);  // row 2
  t.LookupOrInsert(1);  // 2 is now least recently seen
  auto c = t.LookupOrInsert(3);
  EXPECT_TRUE(c.fresh);
  EXPECT_TRUE(c.evicted);
  EXPECT_EQ(c.evicted_key, 2u);
  EXPECT_EQ(c.row, 2);
  EXPECT_EQ(t.Find(2), 0);
  EXPECT_EQ(t.Find(1), 1);
  EXPECT_EQ(t.Find(3), 2);
  EXPECT_EQ(t.evictions(), 1u);
  EXPECT_EQ(t.size(), 2);
}

TEST(IdTableTest, RestoreKeepsRowsAndRecency) {
  IdTable t(3);
  t.LookupOrInsert(10);
  t.LookupOrInsert(20);
  t.LookupOrInsert(30);
  t.LookupOrInsert(10);  // order now 20, 30, 10
  IdTable u(3);
  ASSERT_TRUE(u.Restore(t.Entries()));
  EXPECT_EQ(u.Entries(), t.Entries());
  auto d = u.LookupOrInsert(40);
  EXPECT_EQ(d.evicted_key, 20u);
  EXPECT_EQ(d.row, 2);
}

TEST(IdTableTest, RestoreRejectsDuplicateRows) {
  IdTable t(3);
  EXPECT_FALSE(t.Restore({{1, 1}, {2, 1}}));
  EXPECT_EQ(t.size(), 0);
  EXPECT_FALSE(t.Restore({{1, 4}}));
  // Still usable after a failed restore.
  EXPECT_EQ(t.LookupOrInsert(5).row, 1);
}

}  // namespace
}  // namespace streamrec::training
