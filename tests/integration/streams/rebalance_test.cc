// Rebalance callbacks with two consumers in one group, under both protocols, and a
// listener that chooses each partition's start offset.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"

namespace streamrec {
namespace {

constexpr char kTopic[] = "rebalance";
constexpr int kPartitions = 4;

// Records what it is told; its `owned` set mirrors the consumer's assignment.
class RecordingListener : public RebalanceListener {
 public:
  explicit RecordingListener(int64_t start_offset = kOffsetStored) : start_offset_(start_offset) {}

  void OnPartitionsAssigned(KafkaConsumer*, std::vector<TopicPartitionOffset>* parts) override {
    std::lock_guard<std::mutex> lock(mu_);
    // COOPERATIVE rebalances also deliver empty incremental lists; count real changes.
    if (!parts->empty()) ++assigned_calls_;
    for (auto& tp : *parts) {
      EXPECT_EQ(tp.offset, kOffsetStored);
      tp.offset = start_offset_;
      owned_.insert(tp.partition);
    }
  }
  void OnPartitionsRevoked(KafkaConsumer*,
                           const std::vector<TopicPartitionOffset>& parts) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!parts.empty()) ++revoked_calls_;
    for (const auto& tp : parts) {
      revoked_total_++;
      owned_.erase(tp.partition);
    }
  }

  std::set<int32_t> owned() const {
    std::lock_guard<std::mutex> lock(mu_);
    return owned_;
  }
  int assigned_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return assigned_calls_;
  }
  int revoked_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_calls_;
  }
  int revoked_total() const {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_total_;
  }

 private:
  const int64_t start_offset_;
  mutable std::mutex mu_;
  std::set<int32_t> owned_;
  int assigned_calls_ = 0;
  int revoked_calls_ = 0;
  int revoked_total_ = 0;
};

// A consumer on its own thread (which owns it, as a stage task does).
class ConsumerThread {
 public:
  ConsumerThread(const std::string& brokers, const std::string& strategy,
                 RecordingListener* listener) {
    thread_ = std::thread([=] {
      ConsumerOptions o;
      o.brokers = brokers;
      o.group_id = "rebalance-group-" + strategy;
      o.assignment_strategy = strategy;
      o.listener = listener;
      o.properties["session.timeout.ms"] = "6000";
      o.properties["heartbeat.interval.ms"] = "300";
      auto consumer = KafkaConsumer::Create(o);
      ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
      ASSERT_TRUE((*consumer)->Subscribe({kTopic}).ok());
      while (!stop_.load()) {
        Record r;
        auto got = (*consumer)->Poll(50, &r);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        if (*got) {
          std::lock_guard<std::mutex> lock(mu_);
          records_.push_back(r);
        }
      }
      protocol_ = (*consumer)->RebalanceProtocol();
      ASSERT_TRUE((*consumer)->Close().ok());
    });
  }
  ~ConsumerThread() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Record> records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }
  const std::string& protocol() const { return protocol_; }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Record> records_;
  std::string protocol_;
  std::thread thread_;
};

// Polls `pred` every 50 ms for up to 40 s.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 800; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

class RebalanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RebalanceTest, TwoMembersSplitThePartitionsAndHandBackOnLeave) {
  const std::string strategy = GetParam();
  EmbeddedBrokerOptions bopts;
  bopts.topics = {{kTopic, kPartitions, false}};
  auto broker = EmbeddedBroker::Start(bopts);
  ASSERT_TRUE(broker.ok());
  const std::string brokers = (*broker)->bootstrap_servers();

  RecordingListener a_listener, b_listener;
  ConsumerThread a(brokers, strategy, &a_listener);
  ASSERT_TRUE(Eventually([&] { return a_listener.owned().size() == kPartitions; }));

  auto b = std::make_unique<ConsumerThread>(brokers, strategy, &b_listener);
  ASSERT_TRUE(Eventually([&] {
    return a_listener.owned().size() == 2 && b_listener.owned().size() == 2;
  })) << "a owns "
      << a_listener.owned().size() << ", b owns " << b_listener.owned().size();
  std::set<int32_t> all = a_listener.owned();
  for (int32_t p : b_listener.owned()) all.insert(p);
  EXPECT_EQ(all.size(), static_cast<size_t>(kPartitions));
  EXPECT_GE(a_listener.revoked_calls(), 1);
  if (strategy == "cooperative-sticky") {
    // Incremental: A gave up exactly the two partitions B took, nothing else.
    EXPECT_EQ(a_listener.revoked_total(), 2);
    EXPECT_EQ(a_listener.assigned_calls(), 1);
  } else {
    // Eager: A gave up everything and got half back. On a loaded machine the group may go
    // through one more eager round (a member's join arrives late), which revokes A's half
    // again: the protocol is still eager, so every round revokes all A owned.
    EXPECT_GE(a_listener.revoked_total(), kPartitions);
    EXPECT_GE(a_listener.assigned_calls(), 2);
    EXPECT_EQ(a_listener.revoked_total(), kPartitions + 2 * (a_listener.assigned_calls() - 2))
        << "each eager round after the first revokes A's two partitions";
  }

  // Messages produced now are consumed once, by whichever member owns the partition.
  ProducerOptions popts;
  popts.brokers = brokers;
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*producer)->Produce(kTopic, "k" + std::to_string(i), std::to_string(i)).ok());
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());
  ASSERT_TRUE(Eventually([&] { return a.records().size() + b->records().size() == 40; }));
  for (const Record& r : a.records()) EXPECT_EQ(a_listener.owned().count(r.partition), 1u);
  for (const Record& r : b->records()) EXPECT_EQ(b_listener.owned().count(r.partition), 1u);

  // B leaves: its partitions are revoked from it and come back to A.
  b->Stop();
  EXPECT_EQ(b->protocol(), strategy == "cooperative-sticky" ? "COOPERATIVE" : "EAGER");
  EXPECT_TRUE(b_listener.owned().empty());
  ASSERT_TRUE(Eventually([&] { return a_listener.owned().size() == kPartitions; }));
  a.Stop();
  EXPECT_TRUE(a_listener.owned().empty());
}

INSTANTIATE_TEST_SUITE_P(Protocols, RebalanceTest, ::testing::Values("cooperative-sticky", "range"),
                         [](const auto& info) {
                           return info.param == "range" ? std::string("Eager")
                                                        : std::string("Cooperative");
                         });

TEST(RebalanceStartOffset, ListenerChoosesWhereEachPartitionStarts) {
  EmbeddedBrokerOptions bopts;
  bopts.topics = {{kTopic, 2, false}};
  auto broker = EmbeddedBroker::Start(bopts);
  ASSERT_TRUE(broker.ok());
  ProducerOptions popts;
  popts.brokers = (*broker)->bootstrap_servers();
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok());
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < 10; ++i) {
      ProduceMessage m;
      m.topic = kTopic;
      m.partition = p;
      m.key = "k";
      const std::string v = std::to_string(p) + ":" + std::to_string(i);
      m.value = v;
      ASSERT_TRUE((*producer)->Produce(m).ok());
    }
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  RecordingListener listener(/*start_offset=*/7);
  ConsumerThread c((*broker)->bootstrap_servers(), "cooperative-sticky", &listener);
  ASSERT_TRUE(Eventually([&] { return c.records().size() == 6; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  c.Stop();
  std::multiset<std::string> values;
  for (const Record& r : c.records()) {
    EXPECT_GE(r.offset, 7);
    values.insert(r.value);
  }
  EXPECT_EQ(values, (std::multiset<std::string>{"0:7", "0:8", "0:9", "1:7", "1:8", "1:9"}));
}

// A listener that commits its positions when partitions are revoked, as a stage does
// after flushing its state.
class CommitOnRevoke : public RebalanceListener {
 public:
  void OnPartitionsAssigned(KafkaConsumer*, std::vector<TopicPartitionOffset>*) override {}
  void OnPartitionsRevoked(KafkaConsumer* consumer,
                           const std::vector<TopicPartitionOffset>& parts) override {
    std::vector<TopicPartitionOffset> positions;
    for (const auto& tp : parts) {
      if (tp.offset >= 0) positions.push_back(tp);
    }
    commit_status = consumer->CommitSync(positions);
    revoked = parts;
  }
  Status commit_status;
  std::vector<TopicPartitionOffset> revoked;
};

TEST(RebalanceCommit, NextMemberStartsWhereTheRevokedOneCommitted) {
  EmbeddedBrokerOptions bopts;
  bopts.topics = {{"handover", 1, false}};
  auto broker = EmbeddedBroker::Start(bopts);
  ASSERT_TRUE(broker.ok());
  const std::string brokers = (*broker)->bootstrap_servers();
  ProducerOptions popts;
  popts.brokers = brokers;
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE((*producer)->Produce("handover", "k", std::to_string(i)).ok());
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  ConsumerOptions o;
  o.brokers = brokers;
  o.group_id = "handover-group";
  o.properties["session.timeout.ms"] = "6000";
  o.properties["heartbeat.interval.ms"] = "300";
  CommitOnRevoke first_listener;
  o.listener = &first_listener;
  {
    auto first = KafkaConsumer::Create(o);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE((*first)->Subscribe({"handover"}).ok());
    std::vector<Record> got;
    for (int i = 0; i < 300 && got.size() < 12; ++i) {
      ASSERT_TRUE((*first)->PollBatch(12 - got.size(), 100, &got).ok());
    }
    ASSERT_EQ(got.size(), 12u);
    EXPECT_EQ(got.back().value, "11");
    ASSERT_TRUE((*first)->Close().ok());  // final revoke: commits offset 12
  }
  ASSERT_TRUE(first_listener.commit_status.ok()) << first_listener.commit_status.ToString();
  ASSERT_EQ(first_listener.revoked, (std::vector<TopicPartitionOffset>{{"handover", 0, 12}}));

  CommitOnRevoke second_listener;
  o.listener = &second_listener;
  auto second = KafkaConsumer::Create(o);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Subscribe({"handover"}).ok());
  std::vector<Record> rest;
  for (int i = 0; i < 300 && rest.size() < 18; ++i) {
    ASSERT_TRUE((*second)->PollBatch(18 - rest.size(), 100, &rest).ok());
  }
  ASSERT_EQ(rest.size(), 18u);
  EXPECT_EQ(rest.front().offset, 12);
  EXPECT_EQ(rest.front().value, "12");
  EXPECT_EQ(rest.back().value, "29");
}

}  // namespace
}  // namespace streamrec
