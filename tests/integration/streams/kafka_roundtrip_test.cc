// Produce → consume round trips against the test's broker (tests/support/test_broker.h): the
// embedded broker, or the real Apache Kafka broker (label real-kafka).
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/metrics.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/test_broker.h"

namespace streamrec {
namespace {

// The value of a metric series whose labels include all of `labels`; -1 if absent.
double MetricValue(const std::string& name, const std::map<std::string, std::string>& labels) {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      size_t matched = 0;
      for (const auto& l : m.label) {
        auto it = labels.find(l.name);
        if (it != labels.end() && it->second == l.value) ++matched;
      }
      if (matched == labels.size()) {
        return family.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
      }
    }
  }
  return -1;
}

EmbeddedBrokerOptions WithTopics(std::vector<TopicSpec> topics) {
  EmbeddedBrokerOptions options;
  options.topics = std::move(topics);
  return options;
}

// Reads until `n` records arrived or ~30 s of polling passed.
std::vector<Record> ReadN(KafkaConsumer* consumer, size_t n) {
  std::vector<Record> out;
  for (int i = 0; i < 300 && out.size() < n; ++i) {
    auto got = consumer->PollBatch(n - out.size(), 100, &out);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) break;
  }
  return out;
}

TEST(KafkaRoundTrip, KeysValuesHeadersTimestampsSurvive) {
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, WithTopics({{"rt", 3, false}}));
  const std::string rt = broker->Topic("rt");
  const std::string group = broker->Group("rt-group");
  ProducerOptions popts;
  popts.brokers = broker->bootstrap_servers();
  std::map<uint64_t, DeliveryReport> reports;
  popts.on_delivery = [&](const DeliveryReport& r) { reports[r.tag] = r; };
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();

  constexpr int kMessages = 60;
  for (int i = 0; i < kMessages; ++i) {
    KafkaHeaders headers = {{"h1", "v" + std::to_string(i)}, {"bin", std::string("\0x", 2)}};
    ProduceMessage m;
    m.topic = rt;
    const std::string key = "user-" + std::to_string(i % 7);
    const std::string value = "value-" + std::to_string(i);
    m.key = key;
    m.value = value;
    m.headers = &headers;
    m.timestamp_ms = 1732270000000 + i;
    m.tag = static_cast<uint64_t>(i);
    ASSERT_TRUE((*producer)->Produce(m).ok());
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());
  EXPECT_EQ((*producer)->delivered_count(), kMessages);
  EXPECT_EQ((*producer)->failed_count(), 0);
  ASSERT_EQ(reports.size(), static_cast<size_t>(kMessages));

  ConsumerOptions copts;
  copts.brokers = broker->bootstrap_servers();
  copts.group_id = group;
  auto consumer = KafkaConsumer::Create(copts);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  ASSERT_TRUE((*consumer)->Subscribe({rt}).ok()) << (*consumer)->Subscribe({rt}).ToString();
  std::vector<Record> records = ReadN(consumer->get(), kMessages);
  ASSERT_EQ(records.size(), static_cast<size_t>(kMessages));

  std::map<std::string, int32_t> partition_of_key;
  std::set<int> seen;
  for (const Record& r : records) {
    ASSERT_EQ(r.topic, rt);
    ASSERT_EQ(r.value.rfind("value-", 0), 0u);
    const int i = std::stoi(r.value.substr(6));
    seen.insert(i);
    EXPECT_TRUE(r.has_key);
    EXPECT_EQ(r.key, "user-" + std::to_string(i % 7));
    EXPECT_EQ(r.timestamp_ms, 1732270000000 + i);
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.Header("h1").value_or(""), "v" + std::to_string(i));
    EXPECT_EQ(r.Header("bin").value_or(""), std::string("\0x", 2));
    // The delivery report named the same partition and offset.
    EXPECT_EQ(reports[i].partition, r.partition);
    EXPECT_EQ(reports[i].offset, r.offset);
    EXPECT_TRUE(reports[i].status.ok());
    // Same key, same partition.
    auto [it, inserted] = partition_of_key.emplace(r.key, r.partition);
    if (!inserted) {
      EXPECT_EQ(it->second, r.partition) << r.key;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages));

  // Metrics: produced (acknowledged) and consumed per topic, lag per partition.
  EXPECT_EQ(MetricValue("streamrec_events_produced_total", {{"topic", rt}}), kMessages);
  EXPECT_EQ(
      MetricValue("streamrec_events_consumed_total", {{"stage", group}, {"topic", rt}}),
      kMessages);
  for (const auto& [key, partition] : partition_of_key) {
    EXPECT_EQ(MetricValue("streamrec_consumer_lag", {{"stage", group},
                                                     {"topic", rt},
                                                     {"partition", std::to_string(partition)}}),
              0)
        << partition;
  }

  // Nothing is committed until we ask; then the group's offsets are exactly the ends.
  auto assignment = (*consumer)->Assignment();
  ASSERT_TRUE(assignment.ok());
  ASSERT_EQ(assignment->size(), 3u);
  auto before = (*consumer)->Committed(*assignment, 10000);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  for (const auto& tp : *before) EXPECT_EQ(tp.offset, kOffsetStored) << tp.partition;
  ASSERT_TRUE((*consumer)->CommitPositions().ok());
  auto after = (*consumer)->Committed(*assignment, 10000);
  ASSERT_TRUE(after.ok());
  int64_t total = 0;
  for (const auto& tp : *after) {
    auto wm = (*consumer)->QueryWatermarks(rt, tp.partition, 10000);
    ASSERT_TRUE(wm.ok()) << wm.status().ToString();
    if (wm->second == 0) {
      EXPECT_EQ(tp.offset, kOffsetStored) << tp.partition;  // nothing read, nothing committed
    } else {
      EXPECT_EQ(tp.offset, wm->second) << tp.partition;
      total += tp.offset;
    }
  }
  EXPECT_EQ(total, kMessages);
}

TEST(KafkaRoundTrip, ManualAssignWithExplicitOffsetAndNullKey) {
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, WithTopics({{"manual", 1, false}}));
  const std::string manual = broker->Topic("manual");
  ProducerOptions popts;
  popts.brokers = broker->bootstrap_servers();
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 10; ++i) {
    ProduceMessage m;
    m.topic = manual;
    m.has_key = false;
    const std::string v = std::to_string(i);
    m.value = v;
    m.partition = 0;
    ASSERT_TRUE((*producer)->Produce(m).ok());
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  ConsumerOptions copts;
  copts.brokers = broker->bootstrap_servers();
  auto consumer = KafkaConsumer::Create(copts);
  ASSERT_TRUE(consumer.ok());
  auto count = (*consumer)->PartitionCount(manual, 10000);
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, 1);
  ASSERT_TRUE((*consumer)->Assign({{manual, 0, 4}}).ok());
  std::vector<Record> records = ReadN(consumer->get(), 6);
  ASSERT_EQ(records.size(), 6u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, static_cast<int64_t>(4 + i));
    EXPECT_EQ(records[i].value, std::to_string(4 + i));
    EXPECT_FALSE(records[i].has_key);
  }
}

// The producer's metadata call: the partition count, and the topic known before the first
// message (serving warms its POST /v1/events producer this way).
TEST(KafkaRoundTrip, ProducerPartitionCount) {
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, WithTopics({{"three", 3, false}}));
  const std::string three = broker->Topic("three");
  ProducerOptions popts;
  popts.brokers = broker->bootstrap_servers();
  auto producer = KafkaProducer::Create(popts);
  ASSERT_TRUE(producer.ok());
  auto count = (*producer)->PartitionCount(three, 10000);
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, 3);
  ASSERT_TRUE((*producer)->Produce(three, "k", "v").ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  EXPECT_EQ((*producer)->delivered_count(), 1);
}

TEST(KafkaRoundTrip, BadPropertyIsAnErrorNamingIt) {
  ProducerOptions popts;
  popts.brokers = "127.0.0.1:1";
  popts.properties["no.such.property"] = "1";
  auto producer = KafkaProducer::Create(popts);
  ASSERT_FALSE(producer.ok());
  EXPECT_NE(producer.status().message().find("no.such.property"), std::string::npos);
  ProducerOptions none;
  EXPECT_EQ(KafkaProducer::Create(none).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace streamrec
