#include "serving/user_history.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "operators/user_window.h"
#include "serving/serving_config.h"

namespace streamrec::serving {
namespace {

std::vector<uint64_t> Keys(const std::vector<HistoryEntry>& h) {
  std::vector<uint64_t> out;
  for (const auto& e : h) out.push_back(e.item_key);
  return out;
}

TEST(UserHistoryStoreTest, KeepsNewestDistinctWithinSizeAndTime) {
  UserHistoryOptions options;
  options.window = operators::UserWindowOptions{3, 100};
  UserHistoryStore store(options);
  store.Record(1, 10, "i10", 1000);
  store.Record(1, 11, "i11", 1010);
  store.Record(1, 10, "i10", 1015);  // a repeat moves to the newest position
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{11, 10}));
  store.Record(1, 12, "i12", 1016);
  store.Record(1, 13, "i13", 1020);
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{10, 12, 13}));
  store.Record(1, 14, "i14", 1200);  // everything older than 1100 falls out
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{14}));
  EXPECT_TRUE(store.Get(2).empty());
  EXPECT_EQ(store.num_users(), 1u);
  EXPECT_EQ(store.stream_time_ms(), 1200);
}

std::vector<uint64_t> SeenKeys(const std::vector<SeenItem>& seen) {
  std::vector<uint64_t> out;
  for (const auto& s : seen) out.push_back(s.item_key);
  return out;
}

TEST(UserHistoryStoreTest, SeenRecordOutlivesTheWindowAndKeepsEveryEventType) {
  UserHistoryOptions options;
  options.window = operators::UserWindowOptions{2, 100};
  UserHistoryStore store(options);
  store.Record(1, 10, "a", 1000, EventType::kView);
  store.Record(1, 11, "b", 1010, EventType::kPurchase);
  store.Record(1, 10, "a", 1020, EventType::kAddToCart);  // a again: moves to the end
  store.Record(1, 12, "c", 5000, EventType::kClick);      // the window keeps c only
  const auto user = store.GetUser(1, 5000);
  EXPECT_EQ(Keys(user.window), (std::vector<uint64_t>{12}));
  ASSERT_EQ(SeenKeys(user.seen), (std::vector<uint64_t>{11, 10, 12}));
  EXPECT_TRUE(user.seen[0].Has(EventType::kPurchase));
  EXPECT_FALSE(user.seen[0].Has(EventType::kView));
  EXPECT_TRUE(user.seen[1].Has(EventType::kView));
  EXPECT_TRUE(user.seen[1].Has(EventType::kAddToCart));
  EXPECT_FALSE(user.seen[1].Has(EventType::kPurchase));
  EXPECT_EQ(user.seen[1].last_ts_ms, 1020);
  EXPECT_TRUE(store.GetUser(2).seen.empty());
}

TEST(UserHistoryStoreTest, SeenRecordKeepsTheNewestItemsUpToItsCap) {
  UserHistoryOptions options;
  options.seen_max_items = 3;
  UserHistoryStore store(options);
  for (uint64_t item = 1; item <= 5; ++item) {
    store.Record(7, item, "i", static_cast<int64_t>(item) * 10, EventType::kPurchase);
  }
  EXPECT_EQ(SeenKeys(store.GetUser(7).seen), (std::vector<uint64_t>{3, 4, 5}));
  store.Record(7, 3, "i", 60, EventType::kView);  // a repeat refreshes, evicts nothing
  EXPECT_EQ(SeenKeys(store.GetUser(7).seen), (std::vector<uint64_t>{4, 5, 3}));
  store.Record(7, 9, "i", 55, EventType::kView);  // late event: placed by its time
  EXPECT_EQ(SeenKeys(store.GetUser(7).seen), (std::vector<uint64_t>{5, 9, 3}));
  // 0: no record at all.
  options.seen_max_items = 0;
  UserHistoryStore none(options);
  none.Record(7, 1, "i", 10, EventType::kPurchase);
  EXPECT_TRUE(none.GetUser(7).seen.empty());
  EXPECT_EQ(none.GetUser(7).window.size(), 1u);
}

TEST(UserHistoryStoreTest, AnswersWithTheUserStageWindow) {
  // The same sequence through the user stage's window type and through the store gives
  // the same window: one set of rules.
  const operators::UserWindowOptions rules{4, 1000};
  UserHistoryOptions options;
  options.window = rules;
  UserHistoryStore store(options);
  operators::UserWindow stage_window(rules);
  const std::vector<std::pair<uint64_t, int64_t>> events = {
      {1, 0}, {2, 100}, {3, 300}, {1, 400}, {4, 900}, {5, 1350}, {2, 1400}, {6, 1500}};
  for (const auto& [item, ts] : events) {
    store.Record(7, item, "i" + std::to_string(item), ts, EventType::kView);
    stage_window.Add(item, "i" + std::to_string(item), ts, EventType::kView);
    EXPECT_EQ(store.Get(7), stage_window.entries()) << "after ts " << ts;
  }
}

TEST(UserHistoryStoreTest, GetCutsTheHorizonAtTheRequestedTimeOnly) {
  UserHistoryOptions options;
  options.window = operators::UserWindowOptions{10, 100};
  UserHistoryStore store(options);
  store.Record(1, 10, "a", 1000);
  store.Record(1, 11, "b", 1050);
  EXPECT_EQ(Keys(store.Get(1, 1100)), (std::vector<uint64_t>{10, 11}));
  EXPECT_EQ(Keys(store.Get(1, 1120)), (std::vector<uint64_t>{11}));  // 1000 < 1120 - 100
  EXPECT_TRUE(store.Get(1, 1200).empty());
  // Another user's later clock (a live click beside a replayed history) cuts nothing.
  store.Record(2, 21, "c", 999'000);
  EXPECT_EQ(Keys(store.Get(1)), (std::vector<uint64_t>{10, 11}));
}

TEST(UserHistoryStoreTest, RecentEventsCarryTheWindowBefore) {
  UserHistoryStore store;
  store.Record(7, 1, "a", 10);
  store.Record(7, 2, "b", 20, EventType::kPurchase);
  auto recent = store.RecentEvents(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_TRUE(recent[0].history.empty());
  EXPECT_EQ(recent[1].item.item_id, "b");
  EXPECT_EQ(recent[1].item.event, EventType::kPurchase);
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
  EXPECT_EQ(store.users_evicted(), 6u);
  // The least recently active go first: 6..9 are left; 6 active again, then two new
  // users push out 7 and 8, not 6.
  store.Record(6, 2, "b", 2);
  store.Record(20, 1, "a", 3);
  store.Record(21, 1, "a", 4);
  EXPECT_FALSE(store.GetUser(6).window.empty());
  EXPECT_TRUE(store.GetUser(7).window.empty());
  EXPECT_TRUE(store.GetUser(8).window.empty());
  EXPECT_FALSE(store.GetUser(9).window.empty());
  EXPECT_FALSE(store.GetUser(21).window.empty());
}

TEST(UserHistoryStoreTest, BytesGrowWithTheRecordsAndShrinkWithEvictions) {
  UserHistoryOptions options;
  options.num_shards = 1;
  options.max_bytes = 0;  // unbounded: only counted
  UserHistoryStore store(options);
  EXPECT_EQ(store.bytes(), 0u);
  store.Record(1, 1, "a", 1);
  const size_t one_event = store.bytes();
  EXPECT_GT(one_event, sizeof(SeenItem) + sizeof(HistoryEntry));
  // A long item id is counted beside its entry.
  const std::string long_id(200, 'x');
  store.Record(1, 2, long_id, 2);
  EXPECT_GE(store.bytes(), one_event + long_id.size());
  for (uint64_t item = 3; item < 300; ++item) store.Record(1, item, "i", static_cast<int64_t>(item));
  // The seen record holds 299 items of 24 bytes (its capacity at least that).
  EXPECT_GE(store.bytes(), 299 * sizeof(SeenItem));
  // Another user adds about one user's worth.
  const size_t before = store.bytes();
  store.Record(2, 1, "a", 1);
  EXPECT_GT(store.bytes(), before);
  EXPECT_LT(store.bytes(), before + 4 * one_event);
}

TEST(UserHistoryStoreTest, BoundsTheBytesByEvictingTheLeastRecentlyActive) {
  UserHistoryOptions options;
  options.num_shards = 1;
  options.window = operators::UserWindowOptions{20, 0};
  // Measure one user with 50 events, then bound the store to about ten of them.
  size_t per_user = 0;
  {
    UserHistoryOptions unbounded = options;
    unbounded.max_bytes = 0;
    UserHistoryStore probe(unbounded);
    for (uint64_t item = 0; item < 50; ++item) {
      probe.Record(1, item, "item" + std::to_string(item), static_cast<int64_t>(item));
    }
    per_user = probe.bytes();
  }
  options.max_bytes = 10 * per_user + per_user / 2;
  UserHistoryStore store(options);
  int64_t ts = 0;
  auto fill = [&](uint64_t user) {
    for (uint64_t item = 0; item < 50; ++item) {
      store.Record(user, item, "item" + std::to_string(item), ++ts);
    }
  };
  for (uint64_t user = 0; user < 10; ++user) fill(user);
  EXPECT_EQ(store.num_users(), 10u);
  EXPECT_EQ(store.users_evicted(), 0u);
  store.Record(0, 99, "item99", ++ts);  // user 0 is the most recent now
  for (uint64_t user = 10; user < 40; ++user) {
    fill(user);
    EXPECT_LE(store.bytes(), options.max_bytes) << "after user " << user;
  }
  EXPECT_GT(store.users_evicted(), 0u);
  // About ten users' worth (the probe's bytes also held its stale recency entries, so a
  // user here costs a little less than per_user).
  EXPECT_LE(store.num_users(), 12u);
  EXPECT_GE(store.num_users(), 9u);
  // The newest users are whole; the oldest are gone.
  EXPECT_EQ(store.GetUser(39).seen.size(), 50u);
  EXPECT_EQ(store.GetUser(38).window.size(), 20u);
  EXPECT_TRUE(store.GetUser(1).window.empty());
  EXPECT_TRUE(store.GetUser(1).seen.empty());
  // Evicted and active again: starts from an empty record, with a new version.
  store.Record(1, 5, "item5", ++ts);
  const auto back = store.GetUser(1);
  EXPECT_EQ(back.seen.size(), 1u);
  EXPECT_GT(back.version, 0u);
  EXPECT_LE(store.bytes(), options.max_bytes);
}

TEST(UserHistoryStoreTest, TheRecencyOrderStaysBoundedForOneBusyUser) {
  UserHistoryOptions options;
  options.num_shards = 1;
  options.max_bytes = 0;
  UserHistoryStore store(options);
  store.Record(2, 1, "a", 1);
  for (int64_t ts = 0; ts < 100000; ++ts) store.Record(1, static_cast<uint64_t>(ts % 7), "a", ts);
  // 100,000 recency entries of 16 bytes would be 1.6 MB; stale ones are dropped.
  EXPECT_LT(store.bytes(), 64u << 10);
  EXPECT_EQ(store.num_users(), 2u);
}

TEST(UserHistoryStoreTest, ServingReadsTheOperatorsWindowSection) {
  Config config;
  ASSERT_TRUE(config.Set("operators.window.size", "7").ok());
  ASSERT_TRUE(config.Set("operators.window.horizon_s", "60").ok());
  auto options = ServingOptionsFromConfig(config, "127.0.0.1:9092", "127.0.0.1:0");
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->service.history.window.max_items, 7u);
  EXPECT_EQ(options->service.history.window.horizon_ms, 60000);
}

}  // namespace
}  // namespace streamrec::serving
