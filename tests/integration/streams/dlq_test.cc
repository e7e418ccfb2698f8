// DLQ routing against the embedded broker: a consumer of `clicks` validates each message
// and routes the bad ones, unchanged, to `clicks.dlq` with the reason in a header.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/metrics.h"
#include "streams/click_publisher.h"
#include "streams/dead_letter_queue.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/stream_metrics.h"
#include "streams/topics.h"
#include "tests/support/test_broker.h"

namespace streamrec {
namespace {

std::vector<Record> ReadAll(const std::string& brokers, const std::string& topic, int partitions,
                            size_t n) {
  ConsumerOptions o;
  o.brokers = brokers;
  auto consumer = KafkaConsumer::Create(o);
  EXPECT_TRUE(consumer.ok());
  std::vector<TopicPartitionOffset> tps;
  for (int p = 0; p < partitions; ++p) tps.push_back({topic, p, kOffsetBeginning});
  EXPECT_TRUE((*consumer)->Assign(tps).ok());
  std::vector<Record> out;
  for (int i = 0; i < 300 && out.size() < n; ++i) {
    EXPECT_TRUE((*consumer)->PollBatch(n - out.size(), 100, &out).ok());
  }
  // Nothing more arrives.
  (*consumer)->PollBatch(10, 500, &out);
  return out;
}

double RejectedCount(const std::string& reason) {
  for (const auto& family : MetricsRegistry()->Collect()) {
    if (family.name != "streamrec_events_rejected_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "reason" && l.value == reason) return m.counter.value;
      }
    }
  }
  return 0;
}

TEST(DeadLetterQueue, BadClicksGoToTheDlqUnchangedWithReasonHeaders) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{kClicksTopic, 2, false}, {kClicksDlqTopic, 2, false}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const std::string clicks = broker->Topic(kClicksTopic);
  const std::string clicks_dlq = broker->Topic(kClicksDlqTopic);

  // Raw messages straight onto `clicks`, as a frontend might send them.
  const std::vector<std::string> inputs = {
      R"({"user_id":"u1","item_id":"i1","event":"click","ts":1732270000000})",
      "{not json",
      R"({"user_id":"u2","item_id":"i2","event":"like","ts":1732270000000})",
      R"({"user_id":"u3","item_id":"","event":"view","ts":1732270000000})",
      R"({"user_id":"u4","item_id":"i4","event":"view","ts":-1})",
      R"({"user_id":"u5","item_id":"i5","event":"purchase","ts":1732270000005})",
  };
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  for (size_t i = 0; i < inputs.size(); ++i) {
    KafkaHeaders h = {{"trace", "t" + std::to_string(i)}};
    ASSERT_TRUE((*producer)->Produce(clicks, "key" + std::to_string(i), inputs[i], &h).ok());
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  const double bad_json_before = RejectedCount("bad_json");
  const double unknown_before = RejectedCount("unknown_event_type");

  // The stage: validate, route.
  DeadLetterQueue dlq(producer->get(), clicks_dlq);
  ClickEventParser parser;
  std::vector<ClickEvent> accepted;
  for (const Record& r : ReadAll(brokers, clicks, 2, inputs.size())) {
    ClickParseResult result = parser.Parse(r.value);
    if (result.ok()) {
      accepted.push_back(result.event);
    } else {
      ASSERT_TRUE(dlq.Send(r, result.reason, result.detail).ok());
    }
  }
  ASSERT_TRUE((*producer)->Flush(30000).ok());
  ASSERT_EQ(accepted.size(), 2u);

  std::vector<Record> dead = ReadAll(brokers, clicks_dlq, 2, 4);
  ASSERT_EQ(dead.size(), 4u);
  std::map<std::string, const Record*> by_key;
  for (const Record& r : dead) by_key[r.key] = &r;
  struct Expect {
    std::string key, value, reason, detail;
  };
  const std::vector<Expect> expected = {
      {"key1", inputs[1], "bad_json", ""},
      {"key2", inputs[2], "unknown_event_type",
       R"(event "like" is not one of view, click, add_to_cart, purchase)"},
      {"key3", inputs[3], "empty_id", "item_id is empty"},
      {"key4", inputs[4], "bad_timestamp", "ts -1 is negative"},
  };
  for (const auto& e : expected) {
    ASSERT_EQ(by_key.count(e.key), 1u) << e.key;
    const Record& r = *by_key[e.key];
    EXPECT_EQ(r.value, e.value);  // byte for byte
    EXPECT_EQ(r.Header(kRejectReasonHeader).value_or(""), e.reason);
    if (!e.detail.empty()) {
      EXPECT_EQ(r.Header(kRejectDetailHeader).value_or(""), e.detail);
    }
    EXPECT_EQ(r.Header("trace").value_or(""), "t" + e.key.substr(3));  // original headers kept
    const std::string source(r.Header(kRejectSourceHeader).value_or(""));
    EXPECT_EQ(source.rfind(clicks + "[", 0), 0u) << source;
  }
  EXPECT_EQ(RejectedCount("bad_json") - bad_json_before, 1);
  EXPECT_EQ(RejectedCount("unknown_event_type") - unknown_before, 1);
}

TEST(ClickPublisher, KeysByUserRoutesBadLinesAndHonoursStrict) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{kClicksTopic, 3, false}, {kClicksDlqTopic, 1, false}};
  auto broker = EmbeddedBroker::Start(bo);
  ASSERT_TRUE(broker.ok());
  ProducerOptions po;
  po.brokers = (*broker)->bootstrap_servers();
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());

  ClickPublisherOptions opts;
  opts.use_event_time = true;
  ClickPublisher publisher(producer->get(), opts);
  const std::string good =
      R"({"user_id":"alice","item_id":"i1","event":"click","ts":1732270000042})";
  ASSERT_TRUE(publisher.PublishJson(good).ok());
  ASSERT_TRUE(publisher.PublishJson(R"({"user_id":"alice"})").ok());  // to the DLQ
  ClickEvent e;
  e.user_id = "bob";
  e.item_id = "i2";
  e.event = EventType::kView;
  e.ts_ms = 1732270000043;
  ASSERT_TRUE(publisher.PublishEvent(e).ok());
  EXPECT_EQ(publisher.counts().accepted, 2);
  EXPECT_EQ(publisher.counts().rejected, 1);

  ClickPublisherOptions strict_opts;
  strict_opts.strict = true;
  ClickPublisher strict(producer->get(), strict_opts);
  Status st = strict.PublishJson("[]");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "bad_json: top-level value is an array, expected an object");
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  auto clicks = ReadAll(po.brokers, kClicksTopic, 3, 2);
  ASSERT_EQ(clicks.size(), 2u);
  for (const Record& r : clicks) {
    if (r.key == "alice") {
      EXPECT_EQ(r.value, good);
      EXPECT_EQ(r.timestamp_ms, 1732270000042);  // the event time
    } else {
      EXPECT_EQ(r.key, "bob");
      EXPECT_EQ(r.value, EncodeClickEvent(e));
      EXPECT_EQ(r.timestamp_ms, 1732270000043);
    }
  }
  auto dead = ReadAll(po.brokers, kClicksDlqTopic, 1, 1);
  ASSERT_EQ(dead.size(), 1u);  // the strict rejection went nowhere
  EXPECT_EQ(dead[0].value, R"({"user_id":"alice"})");
  EXPECT_FALSE(dead[0].has_key);
  EXPECT_EQ(dead[0].Header(kRejectReasonHeader).value_or(""), "missing_field");
  EXPECT_EQ(dead[0].Header(kRejectDetailHeader).value_or(""), "item_id is missing");
}

}  // namespace
}  // namespace streamrec
