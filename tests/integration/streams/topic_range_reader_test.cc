// TopicRangeReader against the embedded broker (librdkafka's mock cluster, which has no
// timestamp index: each partition is scanned from its first offset).
#include "streams/topic_range_reader.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "streams/embedded_broker.h"
#include "streams/kafka_producer.h"
#include "streams/topic_admin.h"

namespace streamrec {
namespace {

struct Sent {
  std::string key;
  std::string value;
  int64_t ts = 0;
};

std::vector<Record> ReadAll(TopicRangeReader* reader) {
  std::vector<Record> out;
  for (int i = 0; i < 600; ++i) {
    Result<bool> more = reader->Poll(100, &out);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return out;
  }
  ADD_FAILURE() << "the reader did not reach the end of every partition";
  return out;
}

TEST(TopicRangeReaderTest, ReturnsExactlyTheRangeAsProducedAndStopsAtTheOpeningEnd) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"src", 3, false}};
  auto broker = EmbeddedBroker::Start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  ProducerOptions po;
  po.brokers = (*broker)->bootstrap_servers();
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  // Timestamps that do not grow with offsets (a producer sets them), across 3 partitions.
  const int64_t base = 1'700'000'000'000;
  std::vector<Sent> sent;
  for (int i = 0; i < 300; ++i) {
    const int64_t ts = base + ((i * 37) % 300) * 1000;
    sent.push_back({"user-" + std::to_string(i % 17), "v" + std::to_string(i), ts});
  }
  KafkaHeaders headers = {{"origin", "test"}};
  for (const Sent& s : sent) {
    ProduceMessage m;
    m.topic = "src";
    m.key = s.key;
    m.value = s.value;
    m.timestamp_ms = s.ts;
    m.headers = &headers;
    ASSERT_TRUE((*producer)->Produce(m).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  TopicRangeReaderOptions ro;
  ro.brokers = (*broker)->bootstrap_servers();
  ro.topic = "src";
  ro.start_ms = base + 100 * 1000;  // [100 s, 200 s): 100 of the 300
  ro.end_ms = base + 200 * 1000;
  auto reader = TopicRangeReader::Open(ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->ranges().size(), 3u);
  EXPECT_EQ((*reader)->total_offsets(), 300);
  EXPECT_FALSE((*reader)->used_time_index());  // the mock has none
  // Produced after Open(): past every partition's end, never read.
  for (int i = 0; i < 20; ++i) {
    ProduceMessage m;
    m.topic = "src";
    m.key = "late";
    m.value = "late";
    m.timestamp_ms = base + 150 * 1000;
    ASSERT_TRUE((*producer)->Produce(m).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  const std::vector<Record> got = ReadAll(reader->get());
  EXPECT_EQ((*reader)->scanned(), 300);
  EXPECT_EQ((*reader)->matched(), 100);
  std::multiset<std::tuple<std::string, std::string, int64_t>> expected, actual;
  for (const Sent& s : sent) {
    if (s.ts >= ro.start_ms && s.ts < ro.end_ms) expected.insert({s.key, s.value, s.ts});
  }
  std::map<int32_t, int64_t> last_offset;
  for (const Record& r : got) {
    actual.insert({r.key, r.value, r.timestamp_ms});
    EXPECT_EQ(r.Header("origin").value_or(""), "test");
    EXPECT_GT(r.offset, last_offset.count(r.partition) ? last_offset[r.partition] : -1)
        << "partition " << r.partition << " out of offset order";
    last_offset[r.partition] = r.offset;
  }
  EXPECT_EQ(actual, expected);
}

TEST(TopicRangeReaderTest, EmptyRangesMissingTopicsAndEmptyTopicsAreClear) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"empty", 2, false}};
  auto broker = EmbeddedBroker::Start(bo);
  ASSERT_TRUE(broker.ok());
  TopicRangeReaderOptions ro;
  ro.brokers = (*broker)->bootstrap_servers();
  ro.topic = "empty";
  ro.start_ms = 10;
  ro.end_ms = 10;
  auto reader = TopicRangeReader::Open(ro);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kInvalidArgument);

  ro.end_ms = 20;
  reader = TopicRangeReader::Open(ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Record> out;
  Result<bool> more = (*reader)->Poll(100, &out);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more) << "an empty topic is read to its end at once";
  EXPECT_TRUE(out.empty());

  ro.topic = "no-such-topic";
  ro.request_timeout_ms = 3000;
  reader = TopicRangeReader::Open(ro);
  ASSERT_FALSE(reader.ok()) << "read a topic that does not exist";
  EXPECT_EQ(reader.status().ToString(), "NotFound: topic no-such-topic does not exist");
  // ... and did not create it by asking.
  TopicAdminOptions ao;
  ao.brokers = (*broker)->bootstrap_servers();
  auto topics = ListTopics(ao);
  ASSERT_TRUE(topics.ok());
  for (const TopicInfo& t : *topics) EXPECT_NE(t.name, "no-such-topic");
}

}  // namespace
}  // namespace streamrec
