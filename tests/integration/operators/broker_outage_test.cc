// The user and item stages (StageRunner, each its own consumer group, in process) while
// the embedded broker goes away and comes back (issue 14 item 3): the stages keep their
// state, resume, and the item state still equals the batch recomputation exactly. One
// outage is shorter than the session timeout (the members stay), one longer (the group
// drops them: their partitions are lost and assigned again). Embedded broker only (the
// mock cluster's outage controls have no real-broker counterpart here).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/records.h"
#include "operators/batch_view.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"
#include "tests/support/test_broker.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::operators {
namespace {

using runtime::StageRunner;
using runtime::StageRunnerOptions;
using Clock = std::chrono::steady_clock;

constexpr int kClickPartitions = 4;
constexpr int kItemPartitions = 4;

struct Outage {
  const char* name;
  int session_timeout_ms;
  int down_ms;
};

void PrintTo(const Outage& outage, std::ostream* os) { *os << outage.name; }

class BrokerOutageTest : public ::testing::TestWithParam<Outage> {};

TEST_P(BrokerOutageTest, StagesKeepTheirStateResumeAndEndExact) {
  if (testing::TestBrokerTargetFromEnv().real) GTEST_SKIP() << "takes the embedded broker down and up";
  const Outage outage = GetParam();
  SyntheticClickGenerator generator(SyntheticOptions{});
  std::vector<ClickEvent> events;
  while (events.size() < 16000) events.push_back(generator.Next());

  const TopicNames topics;
  EmbeddedBrokerOptions bo;
  bo.topics = {{topics.clicks, kClickPartitions},     {topics.clicks_dlq, 1},
               {topics.cooc_deltas, kItemPartitions},  {topics.training_examples, 4},
               {topics.item_neighbors, 4},             {topics.item_stats, 4}};
  auto broker = EmbeddedBroker::Start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string brokers = (*broker)->bootstrap_servers();
  testing::TempDir dir;

  UserStageOptions uo;
  uo.item_partitions = kItemPartitions;
  ItemStageOptions io;
  StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.state_dir = dir.path();
  ro.properties["session.timeout.ms"] = std::to_string(outage.session_timeout_ms);
  ro.properties["heartbeat.interval.ms"] = "500";
  std::atomic<bool> stop{false};
  Status user_status, item_status;
  ro.group_id = "outage-user";
  auto user = StageRunner::Create(UserStageTopology(uo), ro);
  ASSERT_TRUE(user.ok()) << user.status().ToString();
  ro.group_id = "outage-item";
  auto item = StageRunner::Create(ItemStageTopology(io), ro);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  std::thread user_thread([&] { user_status = (*user)->Run([&] { return stop.load(); }); });
  std::thread item_thread([&] { item_status = (*item)->Run([&] { return stop.load(); }); });

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
  auto converged = [&](const BatchView& expected, int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      auto got = ReadItemStageState(dir.path(), kItemPartitions);
      if (got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  };

  const size_t half = events.size() / 2;
  produce(0, half);
  // Mid-stream: wait until the item stage has applied some of it, not all.
  const auto some = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < some) {
    auto got = ReadItemStageState(dir.path(), kItemPartitions);
    if (got.ok() && got->events > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE((*broker)->SetBrokerDown(-1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(outage.down_ms));
  ASSERT_TRUE((*broker)->SetBrokerUp(-1).ok());
  const auto up = Clock::now();
  produce(half, events.size());
  const BatchView expected = ComputeBatchView(events, uo.window, uo.cooc);
  const bool exact = converged(expected, 150);
  std::printf("[ measured ] %s: down %d ms, %s %.1f s after the broker came back\n", outage.name, outage.down_ms,
              exact ? "exact" : "NOT exact", std::chrono::duration<double>(Clock::now() - up).count());
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
  EXPECT_TRUE(got->pair_counts == expected.pair_counts) << "pair counts differ";
}

INSTANTIATE_TEST_SUITE_P(Outages, BrokerOutageTest,
                         ::testing::Values(Outage{"short", 10000, 3000}, Outage{"beyond the session", 6000, 9000}),
                         [](const ::testing::TestParamInfo<Outage>& info) {
                           return info.param.session_timeout_ms > info.param.down_ms ? std::string("Short")
                                                                                     : std::string("BeyondSession");
                         });

}  // namespace
}  // namespace streamrec::operators
