// What only a real Kafka broker can show (issue 15), on the Apache Kafka broker of the
// real-kafka CTest set: `streamrec topics create` through the Admin API (partitions and
// cleanup.policy read back with DescribeConfigs by a client we did not write,
// kafka-python), and a compacted table topic that the log cleaner compacts, after which
// a fresh TableReader (a stage's restart) still reads the latest value of every key;
// SASL/PLAIN credentials in the config reach librdkafka and the broker's SASL listener.
// These tests are registered only in the real-kafka set (tests/README.md).
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/table_reader.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RunShell;
using testing::RunToEnd;
using testing::ScratchDir;

const std::string kBinary = STREAMREC_BINARY;
// Debian's python3-kafka is installed for the system interpreter.
constexpr char kPython[] = "/usr/bin/python3";

bool HaveKafkaPython() {
  return std::system((std::string(kPython) + " -c 'import kafka' >/dev/null 2>&1").c_str()) == 0;
}

// Prints "TOPIC PARTITIONS CLEANUP_POLICY" per topic named on the command line
// (DescribeTopics and DescribeConfigs through kafka-python's admin client).
constexpr char kDescribeScript[] = R"PY(
import sys
from kafka.admin import KafkaAdminClient, ConfigResource, ConfigResourceType
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=20000)
topics = sys.argv[2:]
partitions = {t["topic"]: len(t["partitions"]) for t in admin.describe_topics(topics)}
for response in admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]):
    for resource in response.resources:
        name = resource[3]
        policy = [c[1] for c in resource[4] if c[0] == "cleanup.policy"]
        print(name, partitions.get(name, -1), policy[0] if policy else "?")
)PY";

// Creates a compacted topic whose segments roll every 100 ms and are cleaned as soon as
// anything in them is dirty, so that the log cleaner compacts it within the test.
constexpr char kCreateCompactedScript[] = R"PY(
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=20000)
admin.create_topics([NewTopic(sys.argv[2], num_partitions=1, replication_factor=1, topic_configs={
    "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0", "delete.retention.ms": "100"})])
)PY";

TEST(RealKafka, TopicsCreateMakesEveryTopicWithItsPartitionsAndCleanupPolicy) {
  EmbeddedBrokerOptions none;
  none.topics = {{"unused", 1, false}};  // the binary creates the default topics itself
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, none);
  if (!broker->real()) GTEST_SKIP() << "needs the real broker (label real-kafka)";
  if (!HaveKafkaPython()) GTEST_SKIP() << "python3-kafka is not installed for " << kPython;
  ScratchDir dir;
  std::vector<std::string> argv = {kBinary, "topics", "create", "--brokers",
                                   broker->bootstrap_servers(), "--partitions", "3",
                                   "--replication", "1"};
  for (const std::string& flag : broker->TopicFlags()) argv.push_back(flag);
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, argv, &out, &err), 0) << out << err;
  const TopicNames names = broker->Names();
  const std::vector<TopicSpec> specs = DefaultTopicSpecs(names, 3);
  ASSERT_EQ(specs.size(), 15u);
  for (const TopicSpec& spec : specs) {
    EXPECT_NE(out.find(spec.name), std::string::npos) << out;
  }
  EXPECT_EQ(out.find("exists"), std::string::npos) << out;

  testing::WriteFile(dir.File("describe.py"), kDescribeScript);
  std::string command = std::string(kPython) + " " + dir.File("describe.py") + " " +
                        broker->bootstrap_servers();
  for (const TopicSpec& spec : specs) command += " " + spec.name;
  std::string described, described_err;
  ASSERT_EQ(RunShell(dir, command, "", 60, &described, &described_err), 0) << described_err;
  std::map<std::string, std::pair<int, std::string>> seen;
  std::istringstream lines(described);
  std::string name, policy;
  int partitions = 0;
  while (lines >> name >> partitions >> policy) seen[name] = {partitions, policy};
  for (const TopicSpec& spec : specs) {
    ASSERT_TRUE(seen.count(spec.name)) << spec.name << " not described:\n" << described;
    // streamrec.models, streamrec.batch and streamrec.serving-members stay
    // single-partition (totally ordered announcement logs).
    const bool single = spec.name == names.models || spec.name == names.batch_views ||
                        spec.name == names.serving_members;
    EXPECT_EQ(seen[spec.name].first, single ? 1 : 3) << spec.name;
    // Tables, announcement logs and the stages' changelogs are compacted.
    const bool table = spec.name == names.items || spec.name == names.item_neighbors ||
                       spec.name == names.item_stats || spec.name == names.models ||
                       spec.name == names.batch_views || spec.name == names.user_changelog ||
                       spec.name == names.item_changelog || spec.name == names.serving_members;
    EXPECT_EQ(spec.compacted, table) << spec.name;
    EXPECT_EQ(seen[spec.name].second, table ? "compact" : "delete") << spec.name;
  }

  // Again: every topic exists already, which is not an error.
  ASSERT_EQ(RunToEnd(dir, argv, &out, &err), 0) << out << err;
  size_t exists = 0;
  for (size_t at = out.find(" exists"); at != std::string::npos; at = out.find(" exists", at + 1)) {
    ++exists;
  }
  EXPECT_EQ(exists, specs.size()) << out;
}

// Reads the whole table from the beginning, as a restarted stage does.
std::map<std::string, std::string> ReadTable(const std::string& brokers, const std::string& topic,
                                             int64_t* records_read) {
  runtime::TableReaderOptions o;
  o.brokers = brokers;
  o.topics = {topic};
  auto reader = runtime::TableReader::Create(o);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::map<std::string, std::string> table;
  if (!reader.ok()) return table;
  EXPECT_TRUE((*reader)->Start([] { return false; }).ok());
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  std::vector<Record> batch;
  while (!(*reader)->caught_up() && std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    auto got = (*reader)->Poll(100, &batch);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) break;
    for (const Record& r : batch) table[r.key] = r.value;
  }
  EXPECT_TRUE((*reader)->caught_up());
  *records_read = (*reader)->records_read();
  EXPECT_TRUE((*reader)->Close().ok());
  return table;
}

TEST(RealKafka, TableTopicCompactsAndARestartReadsTheLatestValuePerKey) {
  EmbeddedBrokerOptions none;
  none.topics = {{"unused", 1, false}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, none);
  if (!broker->real()) GTEST_SKIP() << "needs the real broker (label real-kafka)";
  if (!HaveKafkaPython()) GTEST_SKIP() << "python3-kafka is not installed for " << kPython;
  ScratchDir dir;
  const std::string topic = broker->Topic("table");
  testing::WriteFile(dir.File("create.py"), kCreateCompactedScript);
  std::string out, err;
  ASSERT_EQ(RunShell(dir,
                     std::string(kPython) + " " + dir.File("create.py") + " " +
                         broker->bootstrap_servers() + " " + topic,
                     "", 60, &out, &err),
            0)
      << err;

  ProducerOptions po;
  po.brokers = broker->bootstrap_servers();
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  // 10 keys, 10 versions each, one version per segment (segments roll every 100 ms).
  constexpr int kKeys = 10;
  constexpr int kVersions = 10;
  for (int v = 0; v < kVersions; ++v) {
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_TRUE((*producer)
                      ->Produce(topic, "key-" + std::to_string(k),
                                "key-" + std::to_string(k) + "-v" + std::to_string(v))
                      .ok());
    }
    ASSERT_TRUE((*producer)->Flush(10000).ok());
    std::this_thread::sleep_for(milliseconds(150));
  }
  const int64_t written = kKeys * kVersions;

  // The cleaner never touches the active segment: records written after the last version
  // roll it, until the cleaner has compacted what came before (bounded).
  int64_t read = 0;
  std::map<std::string, std::string> table;
  const auto deadline = std::chrono::steady_clock::now() + seconds(90);
  int rolls = 0;
  do {
    ASSERT_TRUE((*producer)->Produce(topic, "roll", std::to_string(rolls++)).ok());
    ASSERT_TRUE((*producer)->Flush(10000).ok());
    std::this_thread::sleep_for(milliseconds(1000));
    table = ReadTable(broker->bootstrap_servers(), topic, &read);
  } while (read >= written && std::chrono::steady_clock::now() < deadline);
  ASSERT_LT(read, written) << "the log cleaner did not compact " << topic
                           << " within 90 s (read " << read << " of " << written + rolls << ")";

  // A restart reads the latest value of every key, nothing older.
  ASSERT_EQ(table.size(), static_cast<size_t>(kKeys + 1));
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(table["key-" + std::to_string(k)],
              "key-" + std::to_string(k) + "-v" + std::to_string(kVersions - 1));
  }
  EXPECT_EQ(table["roll"], std::to_string(rolls - 1));
  std::printf("compacted: a restart read %lld records of the %lld written\n",
              static_cast<long long>(read), static_cast<long long>(written + rolls));
}

// Kafka client properties pass through verbatim (DESIGN §6): SASL/PLAIN under `kafka.*`
// reaches the broker's SASL_PLAINTEXT listener (scripts/kafka.sh) for the Admin API and the
// producer; a wrong password is refused with the broker's reason. The password is read
// from a file with --set-file, as the Helm chart passes it from a mounted Secret.
TEST(RealKafka, SaslPlainCredentialsPassThroughToTheBroker) {
  EmbeddedBrokerOptions none;
  none.topics = {{"unused", 1, false}};
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, none);
  if (!broker->real()) GTEST_SKIP() << "needs the real broker (label real-kafka)";
  if (broker->sasl_bootstrap_servers().empty()) {
    GTEST_SKIP() << "no SASL listener known (STREAMREC_TEST_BROKERS names only the plain one)";
  }
  const std::string sasl = broker->sasl_bootstrap_servers();
  ScratchDir dir;
  auto with_sasl = [&](const std::string& password, std::vector<std::string> tail) {
    const std::string password_file = dir.File("password-" + password);
    testing::WriteFile(password_file, password + "\n");  // a Secret file may end in a newline
    std::vector<std::string> argv = {kBinary,
                                     "--set", "kafka.security.protocol=SASL_PLAINTEXT",
                                     "--set", "kafka.sasl.mechanism=PLAIN",
                                     "--set", std::string("kafka.sasl.username=") + testing::kRealBrokerSaslUser,
                                     "--set-file", "kafka.sasl.password=" + password_file};
    for (const std::string& flag : broker->TopicFlags()) argv.push_back(flag);
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  };
  const TopicNames names = broker->Names();
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir,
                     with_sasl(testing::kRealBrokerSaslPassword,
                               {"topics", "create", "--brokers", sasl, "--partitions", "2",
                                "--replication", "1", "--topic", names.clicks, "--topic",
                                names.clicks_dlq, "--topic", names.items}),
                     &out, &err),
            0)
      << out << err;
  ASSERT_EQ(RunToEnd(dir,
                     with_sasl(testing::kRealBrokerSaslPassword,
                               {"produce", "--synthetic", "50", "--brokers", sasl}),
                     &out, &err),
            0)
      << out << err;

  // Read back through the SASL listener, with the same properties a stage would take.
  ConsumerOptions co;
  co.brokers = sasl;
  co.properties = {{"security.protocol", "SASL_PLAINTEXT"},
                   {"sasl.mechanism", "PLAIN"},
                   {"sasl.username", testing::kRealBrokerSaslUser},
                   {"sasl.password", testing::kRealBrokerSaslPassword}};
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  ASSERT_TRUE((*consumer)->Assign({{names.clicks, 0, kOffsetBeginning}, {names.clicks, 1, kOffsetBeginning}}).ok());
  std::vector<Record> clicks;
  for (int i = 0; i < 300 && clicks.size() < 50; ++i) {
    ASSERT_TRUE((*consumer)->PollBatch(100, 100, &clicks).ok());
  }
  EXPECT_EQ(clicks.size(), 50u);

  // A wrong password: refused, and the broker's reason reaches the user.
  EXPECT_NE(RunToEnd(dir, with_sasl("wrong", {"produce", "--synthetic", "5", "--brokers", sasl}),
                     &out, &err, "", 60),
            0);
  EXPECT_NE(err.find("Authentication failed"), std::string::npos) << err;
}

}  // namespace
}  // namespace streamrec
