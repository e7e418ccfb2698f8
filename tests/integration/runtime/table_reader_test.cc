// TableReader on the test's broker (embedded, or real in the real-kafka set): reads every partition from the beginning, says
// "caught up" once it reached the end offsets it saw at Start(), then follows new records.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "runtime/table_reader.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_producer.h"
#include "tests/support/test_broker.h"

namespace streamrec::runtime {
namespace {

TEST(TableReaderTest, ReadsToTheEndThenFollows) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"table-a", 3}, {"table-b", 1}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const std::string brokers = broker->bootstrap_servers();
  const std::string table_a = broker->Topic("table-a");
  const std::string table_b = broker->Topic("table-b");
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE((*producer)->Produce(table_a, "k" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  ASSERT_TRUE((*producer)->Produce(table_b, "only", "1").ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  TableReaderOptions to;
  to.brokers = brokers;
  to.topics = {table_a, table_b};
  to.max_poll_records = 7;  // several polls before catching up
  auto reader = TableReader::Create(to);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ASSERT_TRUE((*reader)->Start([] { return false; }).ok());
  EXPECT_FALSE((*reader)->caught_up());
  std::map<std::string, std::string> table;
  std::vector<Record> batch;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(*reader)->caught_up() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    auto got = (*reader)->Poll(100, &batch);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (const auto& r : batch) table[(r.topic == table_a ? "table-a" : "table-b") + std::string("/") + r.key] = r.value;
  }
  ASSERT_TRUE((*reader)->caught_up());
  EXPECT_EQ(table.size(), 61u) << "caught up means everything that was there at start was read";
  EXPECT_EQ((*reader)->records_read(), 61);

  // Then it follows.
  ASSERT_TRUE((*producer)->Produce(table_b, "only", "2").ok());
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  while (table["table-b/only"] != "2" && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    ASSERT_TRUE((*reader)->Poll(100, &batch).ok());
    for (const auto& r : batch) table[(r.topic == table_a ? "table-a" : "table-b") + std::string("/") + r.key] = r.value;
  }
  EXPECT_EQ(table["table-b/only"], "2");
  EXPECT_TRUE((*reader)->Close().ok());
}

TEST(TableReaderTest, EmptyTablesAreCaughtUpAtOnce) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"empty", 2}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  TableReaderOptions to;
  to.brokers = broker->bootstrap_servers();
  to.topics = {broker->Topic("empty")};
  auto reader = TableReader::Create(to);
  ASSERT_TRUE(reader.ok());
  const Status started = (*reader)->Start([] { return false; });
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_TRUE((*reader)->caught_up());

}

}  // namespace
}  // namespace streamrec::runtime
