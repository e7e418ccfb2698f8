// Interop: clients we did not write (kcat, kafka-python) produce to and consume from the
// embedded broker, and our producer/consumer see exactly the same messages.
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"

namespace streamrec {
namespace {

using streamrec::testing::HaveProgram;
using streamrec::testing::RunShell;
using streamrec::testing::ScratchDir;

constexpr int kN = 50;
constexpr int kPartitions = 3;
// Debian's python3-kafka is installed for the system interpreter.
constexpr char kPython[] = "/usr/bin/python3";

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = line.find('\t', start);
    out.push_back(line.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EmbeddedBrokerOptions o;
    for (const char* t : {"from-kcat", "from-us", "from-python", "partition-probe"}) {
      o.topics.push_back({t, kPartitions, false});
    }
    STREAMREC_TEST_BROKER_OR_SKIP(broker_, o);
  }

  // This test's name of topic `name` (tests/support/test_broker.h).
  std::string T(const std::string& name) const { return broker_->Topic(name); }

  // Everything on `topic`, read with our consumer from the beginning of every partition.
  std::vector<Record> ReadAll(const std::string& topic, size_t n) {
    ConsumerOptions o;
    o.brokers = broker_->bootstrap_servers();
    auto consumer = KafkaConsumer::Create(o);
    EXPECT_TRUE(consumer.ok());
    std::vector<TopicPartitionOffset> tps;
    for (int p = 0; p < kPartitions; ++p) tps.push_back({T(topic), p, kOffsetBeginning});
    EXPECT_TRUE((*consumer)->Assign(tps).ok());
    std::vector<Record> out;
    for (int i = 0; i < 300 && out.size() < n; ++i) {
      auto got = (*consumer)->PollBatch(n - out.size(), 100, &out);
      EXPECT_TRUE(got.ok());
    }
    return out;
  }

  // Our producer's partition for each key ("user-<i>"), found by producing to a probe topic.
  std::map<std::string, int32_t> OurPartitions() {
    ProducerOptions po;
    po.brokers = broker_->bootstrap_servers();
    std::map<std::string, int32_t> out;
    po.on_delivery = [&](const DeliveryReport& r) {
      out["user-" + std::to_string(r.tag)] = r.partition;
    };
    auto producer = KafkaProducer::Create(po);
    EXPECT_TRUE(producer.ok());
    for (int i = 0; i < kN; ++i) {
      ProduceMessage m;
      const std::string probe_topic = T("partition-probe");
      m.topic = probe_topic;
      const std::string key = "user-" + std::to_string(i);
      m.key = key;
      m.value = "x";
      m.tag = i;
      EXPECT_TRUE((*producer)->Produce(m).ok());
    }
    EXPECT_TRUE((*producer)->Flush(30000).ok());
    return out;
  }

  void ProduceOurs(const std::string& topic) {
    ProducerOptions po;
    po.brokers = broker_->bootstrap_servers();
    auto producer = KafkaProducer::Create(po);
    ASSERT_TRUE(producer.ok());
    for (int i = 0; i < kN; ++i) {
      KafkaHeaders h = {{"origin", "streamrec"}, {"seq", std::to_string(i)}};
      ASSERT_TRUE((*producer)
                      ->Produce(T(topic), "user-" + std::to_string(i), "ours-" + std::to_string(i), &h)
                      .ok());
    }
    ASSERT_TRUE((*producer)->Flush(30000).ok());
  }

  std::unique_ptr<testing::TestBroker> broker_;
  ScratchDir dir_;
};

TEST_F(InteropTest, KcatProducesOurConsumerReadsTheSameMessages) {
  if (!HaveProgram("kcat")) GTEST_SKIP() << "kcat is not installed";
  std::string input;
  for (int i = 0; i < kN; ++i)
    input += "user-" + std::to_string(i) + "\tkcat-" + std::to_string(i) + "\n";
  std::string out, err;
  // murmur2_random is the Java client's partitioner, which our producer uses too.
  const int rc = RunShell(dir_,
                          "kcat -P -b " + broker_->bootstrap_servers() +
                              " -t " + T("from-kcat") +
                              " -K '\t' -H origin=kcat -X partitioner=murmur2_random",
                          input, 60, &out, &err);
  ASSERT_EQ(rc, 0) << err;
  std::vector<Record> records = ReadAll("from-kcat", kN);
  ASSERT_EQ(records.size(), static_cast<size_t>(kN));
  const auto ours = OurPartitions();
  std::set<std::string> values;
  for (const Record& r : records) {
    const std::string i = r.key.substr(5);
    EXPECT_EQ(r.value, "kcat-" + i);
    EXPECT_EQ(r.Header("origin").value_or(""), "kcat");
    EXPECT_EQ(ours.at(r.key), r.partition) << r.key;
    values.insert(r.value);
  }
  EXPECT_EQ(values.size(), static_cast<size_t>(kN));
}

TEST_F(InteropTest, OurProducerKcatConsumesTheSameMessages) {
  if (!HaveProgram("kcat")) GTEST_SKIP() << "kcat is not installed";
  ProduceOurs("from-us");
  std::string out, err;
  const int rc = RunShell(dir_,
                          "kcat -C -b " + broker_->bootstrap_servers() +
                              " -t " + T("from-us") + " -o beginning -e -q -f '%p\\t%k\\t%s\\t%h\\n'",
                          "", 60, &out, &err);
  ASSERT_EQ(rc, 0) << err;
  auto lines = SplitLines(out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kN)) << out << err;
  std::set<std::string> seen;
  const std::vector<Record> ours = ReadAll("from-us", kN);
  std::map<std::string, int32_t> our_partition;
  for (const Record& r : ours) our_partition[r.key] = r.partition;
  for (const auto& line : lines) {
    auto f = SplitTabs(line);
    ASSERT_EQ(f.size(), 4u) << line;
    const std::string i = f[1].substr(5);
    EXPECT_EQ(f[2], "ours-" + i);
    EXPECT_EQ(f[3], "origin=streamrec,seq=" + i);
    EXPECT_EQ(std::stoi(f[0]), our_partition.at(f[1]));
    seen.insert(f[1]);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kN));
}

TEST_F(InteropTest, KafkaPythonProducesAndConsumes) {
  if (std::system((std::string(kPython) + " -c 'import kafka' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "python3-kafka is not installed for " << kPython;
  }
  ProduceOurs("from-us");
  const std::string script = R"PY(
import sys
from kafka import KafkaConsumer, KafkaProducer
bs = sys.argv[1]
p = KafkaProducer(bootstrap_servers=bs)
for i in range(int(sys.argv[2])):
    p.send(sys.argv[3], key=b"user-%d" % i, value=b"python-%d" % i, headers=[("origin", b"python")])
p.flush()
p.close()
c = KafkaConsumer(sys.argv[4], bootstrap_servers=bs, auto_offset_reset="earliest",
                  group_id=None, consumer_timeout_ms=10000)
for m in c:
    hs = ",".join("%s=%s" % (k, v.decode()) for k, v in m.headers)
    print("%d\t%s\t%s\t%s" % (m.partition, m.key.decode(), m.value.decode(), hs))
c.close()
)PY";
  testing::WriteFile(dir_.File("interop.py"), script);
  std::string out, err;
  const int rc = RunShell(dir_,
                          std::string(kPython) + " " + dir_.File("interop.py") + " " +
                              broker_->bootstrap_servers() + " " + std::to_string(kN) + " " +
                              T("from-python") + " " + T("from-us"),
                          "", 90, &out, &err);
  ASSERT_EQ(rc, 0) << err;

  // What kafka-python consumed is what we produced.
  const std::vector<Record> ours = ReadAll("from-us", kN);
  std::map<std::string, int32_t> our_partition;
  for (const Record& r : ours) our_partition[r.key] = r.partition;
  auto lines = SplitLines(out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kN)) << out << err;
  for (const auto& line : lines) {
    auto f = SplitTabs(line);
    ASSERT_EQ(f.size(), 4u) << line;
    const std::string i = f[1].substr(5);
    EXPECT_EQ(f[2], "ours-" + i);
    EXPECT_EQ(f[3], "origin=streamrec,seq=" + i);
    EXPECT_EQ(std::stoi(f[0]), our_partition.at(f[1]));
  }

  // What kafka-python produced is what our consumer reads, on the partitions our
  // producer would have chosen for the same keys.
  std::vector<Record> records = ReadAll("from-python", kN);
  ASSERT_EQ(records.size(), static_cast<size_t>(kN));
  const auto probe = OurPartitions();
  for (const Record& r : records) {
    EXPECT_EQ(r.value, "python-" + r.key.substr(5));
    EXPECT_EQ(r.Header("origin").value_or(""), "python");
    EXPECT_EQ(probe.at(r.key), r.partition) << r.key;
  }
}

}  // namespace
}  // namespace streamrec
