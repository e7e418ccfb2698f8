// Both stages on the embedded broker (in process, each StageRunner on its own thread, as
// its own consumer group): 100k synthetic clicks with 1% poison messages go through the
// user and item stages; every pair and item count in RocksDB must equal the batch
// recomputation exactly, poison must land in clicks.dlq, neighbour lists and item stats
// must be published.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "runtime/stage_runner.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "state/exactly_once.h"
#include "state/state_db.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"
#include "tests/support/test_broker.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::operators {
namespace {

using runtime::StageRunner;
using runtime::StageRunnerOptions;

constexpr int kClickPartitions = 4;
constexpr int kItemPartitions = 8;

// 100,000 events of the synthetic generator (planted clusters, Zipf popularity, every
// event type), so the test needs no external data set.
std::vector<ClickEvent> SyntheticEvents(size_t n) {
  SyntheticClickGenerator generator(SyntheticOptions{});
  std::vector<ClickEvent> events;
  events.reserve(n);
  while (events.size() < n) events.push_back(generator.Next());
  return events;
}

// All messages of a topic from the beginning (manual assignment; stops at the high
// watermarks).
std::vector<Record> ReadAll(const std::string& brokers, const std::string& topic, int partitions) {
  ConsumerOptions co;
  co.brokers = brokers;
  auto consumer = KafkaConsumer::Create(co);
  EXPECT_TRUE(consumer.ok());
  std::vector<TopicPartitionOffset> tps;
  std::map<int32_t, int64_t> high;
  for (int p = 0; p < partitions; ++p) {
    tps.push_back({topic, p, kOffsetBeginning});
    auto wm = (*consumer)->QueryWatermarks(topic, p, 5000);
    EXPECT_TRUE(wm.ok());
    high[p] = wm.ok() ? wm->second : 0;
  }
  EXPECT_TRUE((*consumer)->Assign(tps).ok());
  std::vector<Record> out;
  std::map<int32_t, int64_t> next;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto done = [&] {
    for (auto& [p, h] : high) {
      if (next[p] < h) return false;
    }
    return true;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    Record r;
    auto got = (*consumer)->Poll(100, &r);
    if (got.ok() && *got) {
      next[r.partition] = r.offset + 1;
      out.push_back(std::move(r));
    }
  }
  return out;
}

TEST(StagesIntegrationTest, ClickStreamThroughBothStagesEqualsBatchRecomputation) {
  const std::vector<ClickEvent> events = SyntheticEvents(100000);
  ASSERT_EQ(events.size(), 100000u);

  const TopicNames defaults;
  EmbeddedBrokerOptions bo;
  bo.topics = {{defaults.clicks, kClickPartitions},      {defaults.clicks_dlq, 1},
               {defaults.cooc_deltas, kItemPartitions},   {defaults.training_examples, 4},
               {defaults.item_neighbors, 4},              {defaults.item_stats, 4}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  // The topics under this test's names (the defaults on the embedded broker).
  const TopicNames topics = broker->Names();
  testing::TempDir dir;

  UserStageOptions uo;
  uo.item_partitions = kItemPartitions;
  uo.topics = topics;
  ItemStageOptions io;
  io.topics = topics;
  KafkaProperties props = {{"compression.type", "lz4"}};

  std::atomic<bool> stop{false};
  Status user_status, item_status;
  StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.properties = props;
  ro.state_dir = dir.path();
  ro.group_id = broker->Group("it-user");
  auto user = StageRunner::Create(UserStageTopology(uo), ro);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  ro.group_id = broker->Group("it-item");
  auto item = StageRunner::Create(ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });

  // Produce the clicks (key user id) with 1% poison mixed in.
  ProducerOptions po;
  po.brokers = brokers;
  po.properties = props;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  std::mt19937_64 rng(1);
  const std::vector<std::string> poison = {
      "{broken json", R"({"user_id":"u","item_id":"i","event":"teleport","ts":1732270000123})",
      R"({"user_id":"","item_id":"i","event":"click","ts":1732270000123})",
      R"({"user_id":"u","item_id":"i","event":"click","ts":-5})", R"({"item_id":"i"})"};
  int poisoned = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (rng() % 100 == 0) {
      ASSERT_TRUE((*producer)->Produce(topics.clicks, "poison", poison[poisoned % poison.size()]).ok());
      ++poisoned;
    }
    ASSERT_TRUE((*producer)->Produce(topics.clicks, events[i].user_id, EncodeClickEvent(events[i])).ok());
    if (i % 5000 == 0) (*producer)->Poll(0);
  }
  ASSERT_TRUE((*producer)->Flush(60000).ok());
  ASSERT_GT(poisoned, 500);

  // Wait until the item stage's state equals the batch view (bounded), then stop.
  UserWindowOptions window = uo.window;
  const BatchView expected = ComputeBatchView(events, window, uo.cooc);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
  bool converged = false;
  while (!converged && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto got = ReadItemStageState(dir.path(), kItemPartitions);
    converged = got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts;
  }
  stop = true;
  user_thread.join();
  item_thread.join();
  EXPECT_TRUE(user_status.ok()) << user_status.ToString();
  EXPECT_TRUE(item_status.ok()) << item_status.ToString();

  auto got = ReadItemStageState(dir.path(), kItemPartitions);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->events, expected.events);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_EQ(got->pair_counts.size(), expected.pair_counts.size());
  EXPECT_TRUE(got->pair_counts == expected.pair_counts) << "pair counts differ";

  // Every poison message is in the DLQ, with its reason.
  auto dlq = ReadAll(brokers, topics.clicks_dlq, 1);
  EXPECT_EQ(static_cast<int>(dlq.size()), poisoned);
  for (const auto& r : dlq) EXPECT_TRUE(r.Header(kRejectReasonHeader).has_value());

  // Neighbour lists and stats were published and decode: every item with a pair got a
  // list and every counted item its stats, at least once (how many times depends on how
  // many commits the item stage took for the backlog: one, on a slow start).
  std::set<uint64_t> items_with_pairs;
  for (const auto& [pair, count] : expected.pair_counts) items_with_pairs.insert(pair.first);
  ASSERT_GT(items_with_pairs.size(), 500u);
  auto lists = ReadAll(brokers, topics.item_neighbors, 4);
  std::set<std::string> listed;
  for (const auto& r : lists) listed.insert(r.key);
  EXPECT_EQ(listed.size(), items_with_pairs.size());
  ASSERT_FALSE(lists.empty());
  auto decoded = DecodeItemNeighbors(lists.back().value);
  ASSERT_TRUE(decoded.ok());
  EXPECT_FALSE(decoded->neighbors.empty());
  auto stats = ReadAll(brokers, topics.item_stats, 4);
  std::set<std::string> with_stats;
  for (const auto& r : stats) with_stats.insert(r.key);
  EXPECT_EQ(with_stats.size(), expected.item_counts.size());
  ASSERT_FALSE(stats.empty());
  auto s = DecodeItemStats(stats.back().value);
  ASSERT_TRUE(s.ok());
  EXPECT_GT(s->count, 0.0);
}

// A user-stage store is deleted between two runs of the user stage (the item stage keeps
// running): the new store draws a new epoch, reads its group offset as the replay bound
// and reprocesses `clicks` from the beginning, below the bound one record per message.
// The item stage applies every event exactly once: its state equals the batch view of
// all events, those before the loss and those after.
TEST(StagesIntegrationTest, DeletedUserStoreIsReplayedThroughTheRunnerExactlyOnce) {
  constexpr int kItemParts = 4;
  const std::vector<ClickEvent> events = SyntheticEvents(12000);
  const size_t first = 8000;
  const TopicNames defaults;
  EmbeddedBrokerOptions bo;
  bo.topics = {{defaults.clicks, kClickPartitions},  {defaults.clicks_dlq, 1},
               {defaults.cooc_deltas, kItemParts},    {defaults.training_examples, 4},
               {defaults.item_neighbors, 4},          {defaults.item_stats, 4}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;
  UserStageOptions uo;
  uo.item_partitions = kItemParts;
  uo.topics = topics;
  ItemStageOptions io;
  io.topics = topics;
  StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path();

  std::atomic<bool> item_stop{false};
  Status item_status;
  ro.group_id = broker->Group("epoch-item");
  auto item = StageRunner::Create(ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return item_stop.load(); }); });
  ro.group_id = broker->Group("epoch-user");
  auto run_user_until = [&](const BatchView& expected) {
    std::atomic<bool> stop{false};
    Status status;
    auto user = StageRunner::Create(UserStageTopology(uo), ro);
    ASSERT_TRUE(user.ok()) << user.status().ToString();
    std::thread t([&] { status = (*user)->Run([&] { return stop.load(); }); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool converged = false;
    while (!converged && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto got = ReadItemStageState(dir.path(), kItemParts);
      converged = got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts;
    }
    stop = true;
    t.join();
    EXPECT_TRUE(status.ok()) << status.ToString();
  };
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  auto produce = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      ASSERT_TRUE((*producer)->Produce(topics.clicks, events[i].user_id, EncodeClickEvent(events[i])).ok());
    }
    ASSERT_TRUE((*producer)->Flush(60000).ok());
  };

  const std::vector<ClickEvent> before(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(first));
  produce(0, first);
  run_user_until(ComputeBatchView(before, uo.window, uo.cooc));
  for (int p = 0; p < kClickPartitions; ++p) std::filesystem::remove_all(dir.path() + "/user-" + std::to_string(p));
  produce(first, events.size());
  const BatchView expected = ComputeBatchView(events, uo.window, uo.cooc);
  run_user_until(expected);
  item_stop = true;
  item_thread.join();
  EXPECT_TRUE(item_status.ok()) << item_status.ToString();

  // The new stores replayed below the bound their group offsets gave.
  int replayed = 0;
  for (int p = 0; p < kClickPartitions; ++p) {
    state::StateDbOptions o;
    o.path = dir.path() + "/user-" + std::to_string(p);
    o.read_only = true;
    o.column_families = {"meta", "outbox"};
    auto db = state::StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto meta_cf = (*db)->ColumnFamily("meta");
    ASSERT_TRUE(meta_cf.ok());
    state::MetaTable meta(db->get(), *meta_cf);
    auto until = meta.LoadU64("outbox.replay_until");
    ASSERT_TRUE(until.ok() && until->has_value());
    if (static_cast<int64_t>(**until) > 0) ++replayed;
  }
  EXPECT_EQ(replayed, kClickPartitions);

  auto got = ReadItemStageState(dir.path(), kItemParts);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->events, expected.events);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_TRUE(got->pair_counts == expected.pair_counts) << "pair counts differ";
}

// Changelog-backed state (runtime/README.md, "Changelog"): both stages write their stores
// to their changelog topics. Between two runs of the user stage every user and item
// store is deleted (the item stage is restarted too, as a replica with an empty state
// directory would be): each is restored from its changelog before processing, resumes at
// its restored offset (no record of `clicks` below it is read again, no epoch replay),
// and after the rest of the stream the item stage's state equals the batch view of all
// events exactly. `restore` false (the same run without the restore) rebuilds from the
// sources instead: still exact (epochs), but with none of the restore's evidence.
struct RestoreEvidence {
  int64_t user_restores = -1, item_restores = -1;
  int64_t user_corrupted = -1, item_corrupted = -1;  // corrupted stores moved aside
  int moved_aside_dirs = -1;                         // <store>.corrupted-* directories
  int64_t user_restored_records = -1, item_restored_records = -1;
  int64_t user_processed_after_loss = -1;  // clicks the user stage read in the second run
  int replaying_stores = -1;               // stores that started a new epoch
};

// How the stores are lost between the two runs.
enum class Loss {
  kDeleted,    // every directory removed
  kCorrupted,  // one byte flipped in the largest SST file of every store
};

// Flips one byte at 2/5 of the largest SST file in `dir` (false: no SST file).
bool FlipSstByte(const std::string& dir) {
  std::string sst;
  uintmax_t largest = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".sst" && e.file_size() > largest) {
      largest = e.file_size();
      sst = e.path().string();
    }
  }
  if (sst.empty()) return false;
  std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
  const auto at = static_cast<std::streamoff>(largest * 2 / 5);
  char c = 0;
  f.seekg(at);
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(at);
  f.write(&c, 1);
  return f.good();
}

void RunChangelogRestore(bool restore, RestoreEvidence* evidence, Loss loss = Loss::kDeleted) {
  constexpr int kItemParts = 4;
  const std::vector<ClickEvent> events = SyntheticEvents(12000);
  const size_t first = 8000;
  const TopicNames defaults;
  EmbeddedBrokerOptions bo;
  bo.topics = {{defaults.clicks, kClickPartitions},        {defaults.clicks_dlq, 1},
               {defaults.cooc_deltas, kItemParts},          {defaults.training_examples, 4},
               {defaults.item_neighbors, 4},                {defaults.item_stats, 4},
               {defaults.user_changelog, kClickPartitions}, {defaults.item_changelog, kItemParts}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;
  UserStageOptions uo;
  uo.item_partitions = kItemParts;
  uo.topics = topics;
  ItemStageOptions io;
  io.topics = topics;
  StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path();
  ro.changelog = true;
  ro.changelog_restore = restore;
  StageRunnerOptions user_ro = ro, item_ro = ro;
  user_ro.group_id = broker->Group("changelog-user");
  user_ro.changelog_topic = topics.user_changelog;
  item_ro.group_id = broker->Group("changelog-item");
  item_ro.changelog_topic = topics.item_changelog;

  // Runs both stages until the item state equals `expected` (bounded), then stops them.
  struct Outcome {
    runtime::ChangelogCounters user, item;
    int64_t user_processed = 0;
  };
  auto run_until = [&](const BatchView& expected) {
    Outcome outcome;
    std::atomic<bool> stop{false};
    Status user_status, item_status;
    auto user = StageRunner::Create(UserStageTopology(uo), user_ro);
    auto item = StageRunner::Create(ItemStageTopology(io), item_ro);
    EXPECT_TRUE(user.ok() && item.ok());
    if (!user.ok() || !item.ok()) return outcome;
    std::thread ut([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
    std::thread it([&] { item_status = (*item)->Run([&] { return stop.load(); }); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
    bool converged = false;
    while (!converged && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto got = ReadItemStageState(dir.path(), kItemParts);
      converged = got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts;
    }
    stop = true;
    ut.join();
    it.join();
    EXPECT_TRUE(user_status.ok()) << user_status.ToString();
    EXPECT_TRUE(item_status.ok()) << item_status.ToString();
    outcome.user = (*user)->changelog_counters();
    outcome.item = (*item)->changelog_counters();
    outcome.user_processed = (*user)->records_processed();
    return outcome;
  };
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  auto produce = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      ASSERT_TRUE((*producer)->Produce(topics.clicks, events[i].user_id, EncodeClickEvent(events[i])).ok());
    }
    ASSERT_TRUE((*producer)->Flush(60000).ok());
  };

  const std::vector<ClickEvent> before(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(first));
  produce(0, first);
  const Outcome first_run = run_until(ComputeBatchView(before, uo.window, uo.cooc));
  EXPECT_EQ(first_run.user.restores, 0);
  EXPECT_GT(first_run.user.records_produced, 0);
  EXPECT_GT(first_run.item.records_produced, 0);
  std::vector<std::string> stores;
  for (int p = 0; p < kClickPartitions; ++p) stores.push_back(dir.path() + "/user-" + std::to_string(p));
  for (int p = 0; p < kItemParts; ++p) stores.push_back(dir.path() + "/item-" + std::to_string(p));
  for (const std::string& store : stores) {
    if (loss == Loss::kDeleted) {
      std::filesystem::remove_all(store);
    } else {
      // The clean stop flushed every store: its state is in SST files.
      ASSERT_TRUE(FlipSstByte(store)) << "no SST file in " << store;
    }
  }
  produce(first, events.size());
  const BatchView expected = ComputeBatchView(events, uo.window, uo.cooc);
  const Outcome second = run_until(expected);

  // Exact either way: the restored stores (or, without the restore, the epoch replay).
  auto got = ReadItemStageState(dir.path(), kItemParts);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->events, expected.events);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_TRUE(got->pair_counts == expected.pair_counts) << "pair counts differ";

  evidence->user_restores = second.user.restores;
  evidence->item_restores = second.item.restores;
  evidence->user_restored_records = second.user.restored_records;
  evidence->item_restored_records = second.item.restored_records;
  evidence->user_processed_after_loss = second.user_processed;
  evidence->user_corrupted = second.user.corrupted_rebuilt;
  evidence->item_corrupted = second.item.corrupted_rebuilt;
  evidence->moved_aside_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.is_directory() && e.path().filename().string().find(".corrupted-") != std::string::npos) {
      ++evidence->moved_aside_dirs;
    }
  }
  evidence->replaying_stores = 0;
  for (const std::string stage : {"user", "item"}) {
    for (int p = 0; p < kClickPartitions; ++p) {
      state::StateDbOptions o;
      o.path = dir.path() + "/" + stage + "-" + std::to_string(p);
      o.read_only = true;
      o.column_families = {"meta", "outbox"};
      auto db = state::StateDb::Open(o);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      state::MetaTable meta(db->get(), *(*db)->ColumnFamily("meta"));
      auto until = meta.LoadU64("outbox.replay_until");
      ASSERT_TRUE(until.ok() && until->has_value());
      if (static_cast<int64_t>(**until) >= 0) ++evidence->replaying_stores;
    }
  }
}

// Restored: every partition store of both stages, from the changelog; the user stage
// read only the clicks produced after the loss; no store started a new epoch.
TEST(StagesIntegrationTest, DeletedStoresAreRestoredFromTheChangelogExactly) {
  RestoreEvidence e;
  RunChangelogRestore(/*restore=*/true, &e);
  EXPECT_EQ(e.user_restores, kClickPartitions);
  EXPECT_EQ(e.item_restores, 4);
  EXPECT_GT(e.user_restored_records, 0);
  EXPECT_GT(e.item_restored_records, 0);
  EXPECT_EQ(e.user_processed_after_loss, 4000);
  EXPECT_EQ(e.replaying_stores, 0);
}

// Issue 14 item 7: a flipped byte in an SST file of every user and item store. Each
// store fails its checksum at open, is moved aside (kept) and restored from its
// changelog; the user stage reads only the clicks after the stop, no epoch replay, and
// the item state equals the batch view of all events.
TEST(StagesIntegrationTest, CorruptedStoresAreMovedAsideAndRestoredFromTheChangelogExactly) {
  RestoreEvidence e;
  RunChangelogRestore(/*restore=*/true, &e, Loss::kCorrupted);
  EXPECT_EQ(e.user_restores, kClickPartitions);
  EXPECT_EQ(e.item_restores, 4);
  EXPECT_EQ(e.user_corrupted, kClickPartitions);
  EXPECT_EQ(e.item_corrupted, 4);
  EXPECT_EQ(e.moved_aside_dirs, kClickPartitions + 4);
  EXPECT_GT(e.user_restored_records, 0);
  EXPECT_GT(e.item_restored_records, 0);
  EXPECT_EQ(e.user_processed_after_loss, 4000);
  EXPECT_EQ(e.replaying_stores, 0);
}

// The same run with the restore off: exact too (the epoch replay reads the sources from
// the start), but every assertion of the test above fails, which shows they test it.
TEST(StagesIntegrationTest, WithoutTheRestoreTheStoresAreRebuiltFromTheSources) {
  RestoreEvidence e;
  RunChangelogRestore(/*restore=*/false, &e);
  EXPECT_EQ(e.user_restores, 0);
  EXPECT_EQ(e.item_restores, 0);
  EXPECT_EQ(e.user_processed_after_loss, 12000);
  EXPECT_EQ(e.replaying_stores, 8);
}

}  // namespace
}  // namespace streamrec::operators
