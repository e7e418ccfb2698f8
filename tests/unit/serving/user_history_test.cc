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
