#include "serving/user_history.h"

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

std::vector<uint64_t> Keys(const std::vector<HistoryEntry>& h) {
  std::vector<uint64_t> out;
  for (const auto& e : h) out.push_back(e.item_key);
  return out;
}

TEST(UserHistoryStoreTest, KeepsNewestWithinSizeAndTime) {
  UserHistoryOptions options;
  options.window_size = 3;
  options.window_ms = 100;
  UserHistoryStore store(options);
  store.Record(1, 10, "i10", 1000);
  store.Record(1, 11, "i11", 1010);
  store.Record(1, 12, "i12", 1005);  // late: slots in by event time
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{10, 12, 11}));
  store.Record(1, 13, "i13", 1020);
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{12, 11, 13}));
  store.Record(1, 14, "i14", 1200);  // everything older than 1100 falls out
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{14}));
  store.Record(1, 15, "i15", 1050);  // older than the window: ignored
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{14}));
  EXPECT_TRUE(store.Get(2).empty());
  EXPECT_EQ(store.num_users(), 1u);
}

TEST(UserHistoryStoreTest, RecentEventsCarryTheWindowBefore) {
  UserHistoryStore store;
  store.Record(7, 1, "a", 10);
  store.Record(7, 2, "b", 20);
  auto recent = store.RecentEvents(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_TRUE(recent[0].history.empty());
  EXPECT_EQ(recent[1].item.item_id, "b");
  ASSERT_EQ(recent[1].history.size(), 1u);
  EXPECT_EQ(recent[1].history[0].item_id, "a");
  EXPECT_EQ(store.RecentEvents(1).size(), 1u);
}

TEST(UserHistoryStoreTest, BoundsTheNumberOfUsers) {
  UserHistoryOptions options;
  options.max_users = 4;
  options.num_shards = 1;
  UserHistoryStore store(options);
  for (uint64_t u = 0; u < 10; ++u) store.Record(u, 1, "a", 1);
  EXPECT_EQ(store.num_users(), 4u);
}

}  // namespace
}  // namespace streamrec::serving
