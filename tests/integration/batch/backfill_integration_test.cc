// Backfill from Kafka (issue 11 item 4): `streamrec replay --from-topic clicks
// --start-time T1 --end-time T2 --topic B` re-publishes a past range of `clicks` with its
// original timestamps and keys; a fresh pipeline (new state, new groups, its own internal
// topics) reading B produces the same views as the original run: the whole range gives
// the original run's pair counts, item counts, occurrences and (count similarity) top-K
// lists exactly; a sub-range gives those of the events in it (the recomputation, which
// the batch tests prove equal to the stages'). Embedded broker (or the real one in the
// real-kafka set); bounded waits.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "streams/click_event.h"
#include "streams/kafka_producer.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec {
namespace {

constexpr int kClickPartitions = 3;
constexpr int kItemPartitions = 2;
constexpr size_t kTopK = 10;
constexpr int64_t kBase = 1732270000000;  // 2024-11-22T10:06:40Z

operators::UserStageOptions UserOptions(const TopicNames& topics) {
  operators::UserStageOptions uo;
  uo.item_partitions = kItemPartitions;
  uo.topics = topics;
  uo.emit_training_examples = false;
  return uo;
}

// The user and item stages on `topics` (fresh state under `state_dir`, groups named after
// `name`) until the item stage holds `events` events; their final state.
Result<operators::BatchView> RunPipeline(const testing::TestBroker& broker, const TopicNames& topics,
                                         const std::string& state_dir, const std::string& name, int64_t events) {
  operators::ItemStageOptions io;
  io.topics = topics;
  io.similarity = operators::Similarity::kCount;
  io.top_k = kTopK;
  io.popularity_half_life_ms = 0;
  runtime::StageRunnerOptions ro;
  ro.brokers = broker.bootstrap_servers();
  ro.state_dir = state_dir;
  ro.group_id = broker.Group(name + "-user");
  auto user = runtime::StageRunner::Create(operators::UserStageTopology(UserOptions(topics)), ro);
  if (!user.ok()) return user.status();
  ro.group_id = broker.Group(name + "-item");
  auto item = runtime::StageRunner::Create(operators::ItemStageTopology(io), ro);
  if (!item.ok()) return item.status();
  std::atomic<bool> stop{false};
  Status user_status, item_status;
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });
  int64_t seen = -1;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
       std::chrono::steady_clock::now() < deadline && seen != events;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto got = operators::ReadItemStageState(state_dir, kItemPartitions);
    if (got.ok()) seen = got->events;
  }
  stop = true;
  user_thread.join();
  item_thread.join();
  if (!user_status.ok()) return user_status;
  if (!item_status.ok()) return item_status;
  auto got = operators::ReadItemStageState(state_dir, kItemPartitions);
  if (got.ok() && got->events != events) {
    return Status::Unavailable(name + ": the item stage holds " + std::to_string(got->events) + " events, not " +
                               std::to_string(events) + "\n" + SerializeMetrics());
  }
  return got;
}

void ExpectSameViews(const operators::BatchView& got, const operators::BatchView& want, const std::string& what) {
  EXPECT_EQ(got.events, want.events) << what;
  EXPECT_EQ(got.item_counts, want.item_counts) << what;
  EXPECT_EQ(got.item_occurrences, want.item_occurrences) << what;
  EXPECT_EQ(got.pair_counts.size(), want.pair_counts.size()) << what;
  EXPECT_TRUE(got.pair_counts == want.pair_counts) << what;
  ASSERT_EQ(got.top_neighbors.size(), want.top_neighbors.size()) << what;
  for (const auto& [key, list] : want.top_neighbors) {
    auto it = got.top_neighbors.find(key);
    ASSERT_NE(it, got.top_neighbors.end()) << what << ": item " << key;
    ASSERT_EQ(it->second.size(), list.size()) << what << ": item " << key;
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(it->second[i].item_key, list[i].item_key) << what << ": item " << key << " #" << i;
      EXPECT_EQ(it->second[i].count, list[i].count) << what << ": item " << key << " #" << i;
    }
  }
}

// A pipeline's own topics: `clicks` is the backfill target, its internal topics are new.
TopicNames Fresh(const testing::TestBroker& broker, const std::string& suffix) {
  TopicNames t = broker.Names();
  t.clicks = broker.Topic("clicks-" + suffix);
  t.clicks_dlq = broker.Topic("dlq-" + suffix);
  t.cooc_deltas = broker.Topic("deltas-" + suffix);
  t.item_neighbors = broker.Topic("neighbors-" + suffix);
  t.item_stats = broker.Topic("stats-" + suffix);
  return t;
}

TEST(BackfillIntegrationTest, ABackfilledRangeGivesAFreshPipelineTheOriginalViews) {
#ifdef STREAMREC_NO_BINARY
  GTEST_SKIP() << "no streamrec binary in this build";
#else
  const TopicNames defaults;
  EmbeddedBrokerOptions bo;
  bo.topics = {{defaults.clicks, kClickPartitions}, {defaults.clicks_dlq, 1}, {defaults.cooc_deltas, kItemPartitions},
               {defaults.item_neighbors, 2}, {defaults.item_stats, 2}};
  for (const char* s : {"all", "part"}) {
    const std::string suffix = s;
    bo.topics.push_back({"clicks-" + suffix, kClickPartitions});
    bo.topics.push_back({"dlq-" + suffix, 1});
    bo.topics.push_back({"deltas-" + suffix, kItemPartitions});
    bo.topics.push_back({"neighbors-" + suffix, 2});
    bo.topics.push_back({"stats-" + suffix, 2});
  }
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();

  // The original stream: 1,500 events a second apart, 40 users, 60 items.
  std::vector<ClickEvent> events;
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 1500; ++i) {
    ClickEvent e;
    e.user_id = "u" + std::to_string((i * 7) % 40);
    e.item_id = "i" + std::to_string((i * 13 + i / 40) % 60);
    e.event = static_cast<EventType>(i % 4);
    e.ts_ms = kBase + i * 1000LL;
    e.user_key = HashId(e.user_id);
    e.item_key = HashId(e.item_id);
    const std::string value = EncodeClickEvent(e);  // ProduceMessage holds views
    ProduceMessage m;
    m.topic = topics.clicks;
    m.key = e.user_id;
    m.value = value;
    m.timestamp_ms = e.ts_ms;
    ASSERT_TRUE((*producer)->Produce(m).ok());
    events.push_back(e);
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  testing::TempDir dir;
  auto original = RunPipeline(*broker, topics, dir.path() + "/original", "backfill-original",
                              static_cast<int64_t>(events.size()));
  ASSERT_TRUE(original.ok()) << original.status().ToString();

  // The whole past range, backfilled into a fresh pipeline.
  auto replay = [&](const std::string& target, int64_t start_ms, int64_t end_ms) {
    std::string out, err;
    testing::ScratchDir scratch;
    const int rc = testing::RunToEnd(
        scratch, {STREAMREC_BINARY, "replay", "--from-topic", topics.clicks, "--start-time", std::to_string(start_ms),
                  "--end-time", std::to_string(end_ms), "--topic", target, "--brokers", brokers, "--no-progress"},
        &out, &err);
    EXPECT_EQ(rc, 0) << err;
  };
  const TopicNames all = Fresh(*broker, "all");
  replay(all.clicks, kBase, kBase + 1500 * 1000LL);
  auto backfilled = RunPipeline(*broker, all, dir.path() + "/all", "backfill-all", static_cast<int64_t>(events.size()));
  ASSERT_TRUE(backfilled.ok()) << backfilled.status().ToString();
  ExpectSameViews(*backfilled, *original, "the whole range against the original run");

  // A sub-range [400 s, 1100 s): the views of exactly the events in it.
  const TopicNames part = Fresh(*broker, "part");
  replay(part.clicks, kBase + 400 * 1000LL, kBase + 1100 * 1000LL);
  const std::vector<ClickEvent> in_range(events.begin() + 400, events.begin() + 1100);
  operators::BatchViewOptions vo;
  vo.window = UserOptions(topics).window;
  vo.cooc = UserOptions(topics).cooc;
  vo.similarity = operators::Similarity::kCount;
  vo.top_k = kTopK;
  vo.popularity_half_life_ms = 0;
  operators::BatchViewBuilder want(vo);
  for (const ClickEvent& e : in_range) want.Add(e);
  auto sub = RunPipeline(*broker, part, dir.path() + "/part", "backfill-part", static_cast<int64_t>(in_range.size()));
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ExpectSameViews(*sub, want.ToBatchView(), "the range [400 s, 1100 s) against its recomputation");
#endif
}

}  // namespace
}  // namespace streamrec
