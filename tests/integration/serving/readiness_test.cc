// Readiness means ready (issue 14 item 4). Clicks — a MovieLens replay, or a small
// generated stream when the data set is absent — go through the user and item stages on
// the embedded broker; then a serving operator starts. From the first moment its /readyz
// answers 200, every item with a neighbour list in streamrec.item-neighbors is answered
// (GET /v1/items/{id}/similar: 200) with that list (the latest one published), and every
// user's window holds the user's last click. A stage that said ready while its tables
// were still loading fails here. The stage runner's own readiness (user, item, trainer:
// their /readyz) is tested in tests/integration/runtime/managed_runner_test.cc.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/id_hash.h"
#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "serving/serving_operator.h"
#include "streams/history_reader.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "tests/support/test_broker.h"
#include "tests/support/test_data.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::serving {
namespace {

constexpr int kPartitions = 4;  // every default topic of the embedded broker

// The latest value per key of a table topic, read to its high watermarks.
std::map<std::string, std::string> ReadTable(const std::string& brokers, const std::string& topic) {
  std::map<std::string, std::string> latest;
  ConsumerOptions co;
  co.brokers = brokers;
  auto consumer = KafkaConsumer::Create(co);
  EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
  if (!consumer.ok()) return latest;
  std::vector<TopicPartitionOffset> tps;
  std::map<int32_t, int64_t> high, next;
  for (int32_t p = 0; p < kPartitions; ++p) {
    tps.push_back({topic, p, kOffsetBeginning});
    auto marks = (*consumer)->QueryWatermarks(topic, p, 5000);
    EXPECT_TRUE(marks.ok()) << marks.status().ToString();
    high[p] = marks.ok() ? marks->second : 0;
    next[p] = marks.ok() ? marks->first : 0;
  }
  EXPECT_TRUE((*consumer)->Assign(tps).ok());
  auto done = [&] {
    for (const auto& [p, h] : high) {
      if (next[p] < h) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::vector<Record> batch;
    auto got = (*consumer)->PollBatch(1000, 100, &batch);
    EXPECT_TRUE(got.ok());
    for (Record& r : batch) {
      next[r.partition] = r.offset + 1;
      if (r.value.empty()) {
        latest.erase(r.key);
      } else {
        latest[r.key] = std::move(r.value);
      }
    }
  }
  EXPECT_TRUE(done()) << "could not read " << topic << " to its end";
  return latest;
}

// Runs `events` through the user and item stages, then starts serving and checks what it
// answers from its first ready moment on.
void ReplayThenCheckReadiness(const std::vector<ClickEvent>& events) {
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, EmbeddedBrokerOptions{});
  const std::string brokers = broker->bootstrap_servers();
  const TopicNames topics = broker->Names();
  testing::TempDir dir;

  operators::UserStageOptions uo;
  uo.item_partitions = kPartitions;
  uo.topics = topics;
  operators::ItemStageOptions io;
  io.topics = topics;
  std::atomic<bool> stop{false};
  Status user_status, item_status;
  runtime::StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path();
  ro.group_id = broker->Group("readiness-user");
  auto user = runtime::StageRunner::Create(operators::UserStageTopology(uo), ro);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  ro.group_id = broker->Group("readiness-item");
  auto item = runtime::StageRunner::Create(operators::ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });

  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  std::map<std::string, std::string> last_item;  // per user, in time order
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE((*producer)->Produce(topics.clicks, events[i].user_id, EncodeClickEvent(events[i])).ok());
    last_item[events[i].user_id] = events[i].item_id;
    if (i % 2000 == 0) (*producer)->Poll(0);
  }
  ASSERT_TRUE((*producer)->Flush(60000).ok());

  // The item stage holds every event (its state equals the batch view), then both stop
  // (delivering what their outboxes hold).
  const operators::BatchView expected_view = operators::ComputeBatchView(events, uo.window, uo.cooc);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(200);
  bool converged = false;
  while (!converged && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto got = operators::ReadItemStageState(dir.path(), kPartitions);
    converged = got.ok() && got->events == expected_view.events && got->pair_counts == expected_view.pair_counts;
  }
  stop = true;
  user_thread.join();
  item_thread.join();
  ASSERT_TRUE(converged) << "the item stage did not reach the batch view in time";
  ASSERT_TRUE(user_status.ok()) << user_status.ToString();
  ASSERT_TRUE(item_status.ok()) << item_status.ToString();

  // What a ready serving stage must answer: the latest neighbour list of every item.
  std::map<std::string, ItemNeighbors> expected;
  for (const auto& [key, value] : ReadTable(brokers, topics.item_neighbors)) {
    auto decoded = DecodeItemNeighbors(value);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    expected[key] = std::move(decoded).value();
  }
  ASSERT_GT(expected.size(), 50u);

  ServingOperatorOptions so;
  so.brokers = brokers;
  so.topics = topics;
  so.group_id = broker->Group("readiness-serving");
  so.poll_timeout_ms = 20;
  so.http.port = 0;
  ServingOperator op(so);
  ASSERT_TRUE(op.Start().ok());
  ASSERT_NE(op.http(), nullptr);
  httplib::Client client("127.0.0.1", op.http()->port());
  client.set_read_timeout(30, 0);
  int not_ready = 0;
  bool ready = false;
  const auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!ready && std::chrono::steady_clock::now() < ready_deadline && !op.failed()) {
    auto res = client.Get("/readyz");
    ASSERT_TRUE(res);
    if (res->status == 200) {
      ready = true;
    } else {
      ASSERT_EQ(res->status, 503) << res->body;
      ++not_ready;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  ASSERT_TRUE(ready) << "never ready: " << op.error().ToString();
  std::printf("[ measured ] %zu events, %zu neighbour lists, %zu users: /readyz answered 503 %d times "
              "before 200\n",
              events.size(), expected.size(), last_item.size(), not_ready);

  // From here on the stage said ready: everything it read must be there.
  size_t wrong_lists = 0, not_found = 0, wrong_windows = 0;
  for (const auto& [id, list] : expected) {
    auto got = op.service().neighbors().Get(HashId(id));
    if (got == nullptr || !(got->ToItemNeighbors() == list)) {
      if (++wrong_lists <= 3) ADD_FAILURE() << "item " << id << ": neighbour list missing or not the latest";
    }
    auto res = client.Get("/v1/items/" + id + "/similar?k=10");
    ASSERT_TRUE(res);
    if (res->status != 200) {
      if (++not_found <= 3) ADD_FAILURE() << "item " << id << ": " << res->status << " " << res->body;
    }
  }
  for (const auto& [user_id, item_id] : last_item) {
    const auto window = op.service().history().Get(HashId(user_id));
    if (window.empty() || window.back().item_key != HashId(item_id)) {
      if (++wrong_windows <= 3) ADD_FAILURE() << "user " << user_id << ": window lacks the last click " << item_id;
    }
  }
  EXPECT_EQ(wrong_lists, 0u);
  EXPECT_EQ(not_found, 0u);
  EXPECT_EQ(wrong_windows, 0u);
  const Readiness r = op.service().GetReadiness();
  EXPECT_TRUE(r.tables_loaded && r.models_loaded && r.windows_loaded && r.fallback_available);
  op.Stop();
  EXPECT_FALSE(op.failed()) << op.error().ToString();
}

// MovieLens-100k, the first 20,000 ratings in time order (the whole file takes minutes on
// the CI machine; the readiness rule does not depend on the size).
TEST(ServingReadinessTest, MovieLensReplayEveryItemAnsweredWhileReadyHasItsNeighbours) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  HistoryReaderOptions ho;
  ho.format = HistoryFormat::kMovieLens;
  auto events = ReadHistoryFile(*ml + "/u.data", ho, /*skip_bad=*/false, /*sort_by_time=*/true);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  events->resize(std::min<size_t>(events->size(), 20000));
  ReplayThenCheckReadiness(*events);
}

// The same on a generated stream (no data set needed).
TEST(ServingReadinessTest, GeneratedStreamEveryItemAnsweredWhileReadyHasItsNeighbours) {
  SyntheticClickGenerator generator(SyntheticOptions{});
  std::vector<ClickEvent> events;
  while (events.size() < 6000) events.push_back(generator.Next());
  ReplayThenCheckReadiness(events);
}

}  // namespace
}  // namespace streamrec::serving
