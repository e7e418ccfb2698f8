// streamrec_consumer_lag against the embedded broker: a gauge per assigned partition from
// the assignment on, refreshed on a timer from the broker's watermarks, so a consumer that
// stops polling shows its lag grow.
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/metrics.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/test_broker.h"

namespace streamrec {
namespace {

// A gauge {stage,topic,partition}; -1 when the series does not exist.
double Gauge(const std::string& name, const std::string& stage, const std::string& topic,
             int partition) {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["stage"] == stage && labels["topic"] == topic &&
          labels["partition"] == std::to_string(partition)) {
        return m.gauge.value;
      }
    }
  }
  return -1;
}

double Lag(const std::string& stage, const std::string& topic, int partition) {
  return Gauge("streamrec_consumer_lag", stage, topic, partition);
}

double Behind(const std::string& stage, const std::string& topic, int partition) {
  return Gauge("streamrec_consumer_behind_seconds", stage, topic, partition);
}

// Polls `lag` (without touching the consumer) until it equals `want` or ~20 s passed.
bool LagBecomes(const std::string& stage, const std::string& topic, int partition, double want) {
  for (int i = 0; i < 200; ++i) {
    if (Lag(stage, topic, partition) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class ConsumerLagTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EmbeddedBrokerOptions options;
    options.topics = {{"lag", 2, false}};
    STREAMREC_TEST_BROKER_OR_SKIP(broker_, options);
    lag_ = broker_->Topic("lag");
    ProducerOptions popts;
    popts.brokers = broker_->bootstrap_servers();
    auto producer = KafkaProducer::Create(popts);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  void Produce(int32_t partition, int n) {
    for (int i = 0; i < n; ++i) {
      ProduceMessage m;
      m.topic = lag_;
      m.key = "k";
      m.value = "v" + std::to_string(i);
      m.partition = partition;
      ASSERT_TRUE(producer_->Produce(m).ok());
    }
    ASSERT_TRUE(producer_->Flush(30000).ok());
  }

  std::unique_ptr<KafkaConsumer> Consumer(const std::string& stage, int lag_refresh_ms,
                                          const std::string& group = "") {
    ConsumerOptions copts;
    copts.brokers = broker_->bootstrap_servers();
    copts.group_id = group;
    copts.stage = stage;
    copts.lag_refresh_ms = lag_refresh_ms;
    auto consumer = KafkaConsumer::Create(copts);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    return consumer.ok() ? std::move(consumer).value() : nullptr;
  }

  std::unique_ptr<testing::TestBroker> broker_;
  std::string lag_;  // the topic
  std::unique_ptr<KafkaProducer> producer_;
};

TEST_F(ConsumerLagTest, AStalledConsumerShowsItsLagGrow) {
  auto consumer = Consumer("lag-stalled", 100, broker_->Group("lag-group"));
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->Subscribe({lag_}).ok());
  Produce(0, 4);
  Produce(1, 6);
  std::vector<Record> read;
  for (int i = 0; i < 300 && read.size() < 10; ++i) {
    auto got = consumer->PollBatch(10, 100, &read);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
  }
  ASSERT_EQ(read.size(), 10u);
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 0, 0));
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 1, 0));

  // The consumer stops polling (a stalled stage); the input keeps coming.
  Produce(0, 30);
  Produce(1, 5);
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 0, 30)) << Lag("lag-stalled", lag_, 0);
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 1, 5)) << Lag("lag-stalled", lag_, 1);
  // How far behind, in time, grows while it does not read.
  const double behind = Behind("lag-stalled", lag_, 0);
  EXPECT_GT(behind, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(Behind("lag-stalled", lag_, 0), behind);

  // It catches up: the lag falls back to zero.
  read.clear();
  for (int i = 0; i < 300 && read.size() < 35; ++i) {
    auto got = consumer->PollBatch(35, 100, &read);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
  }
  ASSERT_EQ(read.size(), 35u);
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 0, 0)) << Lag("lag-stalled", lag_, 0);
  EXPECT_TRUE(LagBecomes("lag-stalled", lag_, 1, 0)) << Lag("lag-stalled", lag_, 1);
  EXPECT_EQ(Behind("lag-stalled", lag_, 0), 0);

  // A closed consumer has no lag series left.
  ASSERT_TRUE(consumer->Close().ok());
  EXPECT_EQ(Lag("lag-stalled", lag_, 0), -1);
  EXPECT_EQ(Lag("lag-stalled", lag_, 1), -1);
  EXPECT_EQ(Behind("lag-stalled", lag_, 0), -1);
}

TEST_F(ConsumerLagTest, EveryAssignedPartitionHasALagBeforeItsFirstMessage) {
  Produce(0, 7);
  auto consumer = Consumer("lag-unread", 100);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->Assign({{lag_, 0, kOffsetBeginning}, {lag_, 1, kOffsetBeginning}}).ok());
  // Created at 0 by the assignment, then set from the watermarks without a poll.
  EXPECT_GE(Lag("lag-unread", lag_, 1), 0);
  EXPECT_TRUE(LagBecomes("lag-unread", lag_, 0, 7)) << Lag("lag-unread", lag_, 0);
  EXPECT_EQ(Lag("lag-unread", lag_, 1), 0);
  // Assigned at the end, it is not behind; what arrives after that is lag.
  ASSERT_TRUE(consumer->Assign({{lag_, 0, kOffsetEnd}}).ok());
  EXPECT_EQ(Lag("lag-unread", lag_, 1), -1);  // no longer assigned
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Lag("lag-unread", lag_, 0), 0);
  Produce(0, 3);
  EXPECT_TRUE(LagBecomes("lag-unread", lag_, 0, 3)) << Lag("lag-unread", lag_, 0);
}

TEST_F(ConsumerLagTest, WithoutTheTimerOnlyFetchesMoveTheLag) {
  Produce(0, 7);
  auto consumer = Consumer("lag-no-timer", 0);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->Assign({{lag_, 0, kOffsetBeginning}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Lag("lag-no-timer", lag_, 0), 0);  // the fault the timer fixes
}

}  // namespace
}  // namespace streamrec
