// The `streamrec` binary as a user runs it: broker, topics, produce, replay, run.
#include <signal.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "streams/click_event.h"
#include "streams/dead_letter_queue.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/topic_admin.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

using testing::ReadFile;
using testing::RunToEnd;
using testing::ScratchDir;
using testing::Subprocess;
using testing::WriteFile;

const std::string kBinary = STREAMREC_BINARY;

// Every record of `topic` (partitions 0..n-1), read until `expected` arrived and then
// half a second more (to catch extras).
std::vector<Record> ReadTopic(const std::string& brokers, const std::string& topic, int partitions,
                              size_t expected) {
  ConsumerOptions o;
  o.brokers = brokers;
  auto consumer = KafkaConsumer::Create(o);
  EXPECT_TRUE(consumer.ok());
  std::vector<TopicPartitionOffset> tps;
  for (int p = 0; p < partitions; ++p) tps.push_back({topic, p, kOffsetBeginning});
  EXPECT_TRUE((*consumer)->Assign(tps).ok());
  std::vector<Record> out;
  for (int i = 0; i < 600 && out.size() < expected; ++i) {
    EXPECT_TRUE((*consumer)->PollBatch(10000, 100, &out).ok());
  }
  (*consumer)->PollBatch(10000, 500, &out);
  return out;
}

std::unique_ptr<EmbeddedBroker> StartBroker(int partitions) {
  EmbeddedBrokerOptions o;
  o.default_partitions = partitions;
  auto broker = EmbeddedBroker::Start(o);
  EXPECT_TRUE(broker.ok());
  return std::move(broker).value();
}

bool WaitForFile(const std::string& path, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!ReadFile(path).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(Cli, EverySubcommandHasHelp) {
  ScratchDir dir;
  for (const char* cmd : {"broker", "produce", "replay", "topics", "run"}) {
    std::string out, err;
    EXPECT_EQ(RunToEnd(dir, {kBinary, cmd, "--help"}, &out, &err), 0) << cmd << err;
    EXPECT_NE(out.find("Usage:"), std::string::npos) << cmd;
  }
}

// What a new user mistypes: the unknown word is named, bad numbers are refused with the
// flag's name, and every usage error exits 2 before anything starts.
TEST(Cli, UsageErrorsNameWhatIsWrongAndExit2) {
  ScratchDir dir;
  std::string out, err;
  EXPECT_EQ(RunToEnd(dir, {kBinary, "prodcue"}, &out, &err), 2);
  EXPECT_NE(err.find("unknown subcommand 'prodcue'"), std::string::npos) << err;
  EXPECT_NE(err.find("produce"), std::string::npos) << "lists the subcommands: " << err;

  // {flag named in the error, arguments}
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"--rate", {"produce", "--synthetic", "10", "--rate", "0", "--brokers", "127.0.0.1:1"}},
      {"--rate", {"produce", "--synthetic", "10", "--rate", "-5", "--brokers", "127.0.0.1:1"}},
      {"--rate", {"replay", "--data", "x", "--format", "jsonl", "--rate", "-1", "--brokers", "127.0.0.1:1"}},
      {"--speedup", {"replay", "--data", "x", "--format", "jsonl", "--speedup", "0", "--brokers", "127.0.0.1:1"}},
      {"--rate", {"run", "--rate", "0"}},
      {"--partitions", {"run", "--partitions", "0"}},
      {"--partitions", {"broker", "--partitions", "-1"}},
      {"--k", {"eval", "--k", "0", "--train", "a", "--test", "b"}},
      {"--k", {"bench", "prequential", "--k", "0", "--synthetic", "10"}},
      {"--partitions", {"stage", "item", "--dump-state", "--partitions", "0", "--state-dir", "x"}},
  };
  for (const auto& [flag, args] : bad) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    out.clear();
    err.clear();
    EXPECT_EQ(RunToEnd(dir, argv, &out, &err), 2) << joined << err;
    EXPECT_NE(err.find(flag), std::string::npos) << joined << ": the error names " << flag << ": " << err;
  }
}

TEST(Cli, BrokerPrintsAndWritesItsAddressCreatesTopicsAndStopsOnSigterm) {
  ScratchDir dir;
  const std::string file = dir.File("bootstrap");
  Subprocess broker({kBinary, "broker", "--partitions", "3", "--bootstrap-file", file},
                    dir.File("broker.out"), dir.File("broker.err"));
  ASSERT_TRUE(WaitForFile(file, std::chrono::seconds(30))) << broker.err();
  std::string address = ReadFile(file);
  ASSERT_TRUE(std::regex_match(address, std::regex("127\\.0\\.0\\.1:[0-9]+\n"))) << address;
  address.pop_back();
  EXPECT_EQ(broker.out(), address + "\n");

  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "topics", "list", "--bootstrap-file", file}, &out, &err), 0)
      << err;
  EXPECT_EQ(out,
            "clicks\t3\nclicks.dlq\t3\nitems\t3\nrec-requests\t3\nrecommendations\t3\n"
            "streamrec.batch\t1\nstreamrec.cooc-deltas\t3\nstreamrec.item-changelog\t3\n"
            "streamrec.item-neighbors\t3\nstreamrec.item-stats\t3\nstreamrec.models\t1\n"
            "streamrec.ranker-examples\t3\nstreamrec.serving-members\t1\nstreamrec.training-examples\t3\nstreamrec.user-changelog\t3\n");

  // The mock cluster answers no CreateTopics: the command says so and fails.
  ASSERT_EQ(
      RunToEnd(dir, {kBinary, "topics", "create", "--brokers", address, "--timeout-ms", "1500"},
               &out, &err),
      1);
  EXPECT_NE(err.find("never answers CreateTopics"), std::string::npos) << err;

  broker.Signal(SIGTERM);
  EXPECT_EQ(broker.Wait(std::chrono::seconds(30)), 0) << broker.err();
  EXPECT_TRUE(ReadFile(file).empty());  // removed on exit
}

TEST(Cli, ProduceValidatesKeysByUserAndRoutesBadLinesToTheDlq) {
  auto broker = StartBroker(3);
  ScratchDir dir;
  const std::string input =
      R"({"user_id":"u1","item_id":"i1","event":"click","ts":1732270000000})"
      "\n"
      "{oops\n"
      "\n"
      R"({"user_id":"u2","item_id":"i2","event":"view","ts":1732270000001,"x":[1]})"
      "\n"
      R"({"user_id":"u1","item_id":"i3","event":"teleport","ts":1732270000002})"
      "\n"
      R"({"user_id":"u1","item_id":"i4","event":"purchase","ts":1732270000003})"
      "\n";
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "produce", "--brokers", broker->bootstrap_servers()}, &out,
                     &err, input),
            0)
      << err;
  EXPECT_EQ(out.rfind("produce: 5 lines, 3 accepted -> clicks, 2 rejected -> clicks.dlq, 5 "
                      "delivered, 0 failed, ",
                      0),
            0u)
      << out;
  auto clicks = ReadTopic(broker->bootstrap_servers(), "clicks", 3, 3);
  ASSERT_EQ(clicks.size(), 3u);
  std::map<std::string, std::set<int32_t>> partitions;
  for (const Record& r : clicks) {
    ClickEventParser parser;
    auto parsed = parser.Parse(r.value);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(r.key, parsed.event.user_id);
    partitions[r.key].insert(r.partition);
  }
  EXPECT_EQ(partitions["u1"].size(), 1u);
  auto dlq = ReadTopic(broker->bootstrap_servers(), "clicks.dlq", 3, 2);
  ASSERT_EQ(dlq.size(), 2u);
  std::set<std::string> reasons;
  for (const Record& r : dlq)
    reasons.insert(std::string(r.Header(kRejectReasonHeader).value_or("")));
  EXPECT_EQ(reasons, (std::set<std::string>{"bad_json", "unknown_event_type"}));

  // A line over Kafka's message size is named, its DLQ copy is cut to fit (with its size
  // and digest), and the lines after it still go out.
  const std::string huge = R"({"user_id":"u9","item_id":")" + std::string(1'200'000, 'x') + R"(","ts":1})";
  ASSERT_EQ(RunToEnd(dir, {kBinary, "produce", "--brokers", broker->bootstrap_servers()}, &out, &err,
                     huge + "\n" + R"({"user_id":"u9","item_id":"i9","event":"click","ts":1732270000009})" + "\n"),
            0)
      << err;
  EXPECT_NE(err.find("<stdin>:1: message is " + std::to_string(huge.size()) + " bytes"), std::string::npos) << err;
  EXPECT_EQ(out.rfind("produce: 2 lines, 1 accepted -> clicks, 1 rejected -> clicks.dlq, 2 delivered, 0 failed, ", 0),
            0u)
      << out;
  auto dlq_all = ReadTopic(broker->bootstrap_servers(), "clicks.dlq", 3, 3);
  ASSERT_EQ(dlq_all.size(), 3u);
  bool found_cut = false;
  for (const Record& r : dlq_all) {
    if (r.Header(kRejectOriginalBytesHeader).value_or("") != std::to_string(huge.size())) continue;
    found_cut = true;
    EXPECT_EQ(r.value, huge.substr(0, r.value.size()));
    EXPECT_EQ(std::string(r.Header(kRejectReasonHeader).value_or("")), "message_too_large");
  }
  EXPECT_TRUE(found_cut);

  // --strict: stops at the first bad line, names it, exits 1.
  ASSERT_EQ(
      RunToEnd(dir, {kBinary, "produce", "--strict", "--brokers", broker->bootstrap_servers()},
               &out, &err, input),
      1);
  EXPECT_NE(err.find("<stdin>:2: bad_json: not valid JSON"), std::string::npos) << err;
  EXPECT_EQ(
      out.rfind(
          "produce: 2 lines, 1 accepted -> clicks, 1 rejected -> (none, --strict), 1 delivered, ",
          0),
      0u)
      << out;
}

TEST(Cli, ProduceSyntheticPublishesEventsAndTheCatalogue) {
  EmbeddedBrokerOptions bo;
  bo.default_partitions = 2;
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const TopicNames names = broker->Names();
  ScratchDir dir;
  std::string out, err;
  std::vector<std::string> argv = {kBinary, "produce", "--synthetic", "3000", "--synthetic-items", "300",
                                   "--seed", "5", "--brokers", broker->bootstrap_servers()};
  for (const std::string& flag : broker->TopicFlags()) argv.push_back(flag);
  ASSERT_EQ(RunToEnd(dir, argv, &out, &err), 0) << err;
  EXPECT_EQ(out.rfind("produce: 3000 synthetic events -> " + names.clicks + ", 300 items -> " +
                          names.items + ", 3300 delivered, 0 failed, ",
                      0),
            0u)
      << out;
  auto clicks = ReadTopic(broker->bootstrap_servers(), names.clicks, 2, 3000);
  EXPECT_EQ(clicks.size(), 3000u);
  ClickEventParser parser;
  for (const Record& r : clicks) {
    auto parsed = parser.Parse(r.value);
    ASSERT_TRUE(parsed.ok()) << r.value;
    EXPECT_EQ(r.key, parsed.event.user_id);
    EXPECT_EQ(r.timestamp_ms, parsed.event.ts_ms);
  }
  auto items = ReadTopic(broker->bootstrap_servers(), names.items, 2, 300);
  EXPECT_EQ(items.size(), 300u);
}

TEST(Cli, ReplayMovieLens100kInTimestampOrderWithOriginalTimestamps) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  const std::string ml100k = *ml;
  // 100k events of ~90 bytes over 8 partitions stay well under the mock's ~5 MB per partition.
  EmbeddedBrokerOptions bo;
  bo.default_partitions = 8;
  STREAMREC_TEST_BROKER_OR_SKIP(auto broker, bo);
  const TopicNames names = broker->Names();
  ScratchDir dir;
  std::string out, err;
  std::vector<std::string> argv = {kBinary, "replay", "--format", "movielens", ml100k + "/u.data", "--items",
                                   ml100k + "/u.item", "--brokers", broker->bootstrap_servers()};
  for (const std::string& flag : broker->TopicFlags()) argv.push_back(flag);
  ASSERT_EQ(RunToEnd(dir, argv, &out, &err), 0) << err;
  EXPECT_EQ(
      out.rfind("replay: 100000 events from " + ml100k + "/u.data (movielens), 0 skipped, 1681 items -> " +
                    names.items + ", 100000 sent -> " + names.clicks + ", 101681 delivered, 0 failed, ",
                0),
      0u)
      << out;
  auto clicks = ReadTopic(broker->bootstrap_servers(), names.clicks, 8, 100000);
  ASSERT_EQ(clicks.size(), 100000u);
  ClickEventParser parser;
  std::map<int32_t, int64_t> last_ts;
  std::set<std::string> users, items;
  int64_t min_ts = INT64_MAX, max_ts = 0;
  for (const Record& r : clicks) {
    auto parsed = parser.Parse(r.value);
    ASSERT_TRUE(parsed.ok()) << r.value;
    EXPECT_EQ(r.timestamp_ms, parsed.event.ts_ms);
    EXPECT_EQ(r.key, parsed.event.user_id);
    // Each partition is in timestamp order (offsets ascend within a partition).
    EXPECT_GE(parsed.event.ts_ms, last_ts[r.partition]);
    last_ts[r.partition] = parsed.event.ts_ms;
    users.insert(parsed.event.user_id);
    items.insert(parsed.event.item_id);
    min_ts = std::min(min_ts, parsed.event.ts_ms);
    max_ts = std::max(max_ts, parsed.event.ts_ms);
  }
  EXPECT_EQ(users.size(), 943u);
  EXPECT_EQ(items.size(), 1682u);
  EXPECT_EQ(min_ts, 874724710000);
  EXPECT_EQ(max_ts, 893286638000);
  auto catalogue = ReadTopic(broker->bootstrap_servers(), names.items, 8, 1681);
  EXPECT_EQ(catalogue.size(), 1681u);
}

TEST(Cli, ReplayStopsAtABadLineUnlessSkipBad) {
  auto broker = StartBroker(2);
  ScratchDir dir;
  const std::string file = dir.File("h.csv");
  WriteFile(file,
            "user_id,item_id,event,ts\n"
            "u1,i1,click,1732270000000\n"
            "u1,i2,click,yesterday\n"
            "u2,i1,view,1732270000500\n");
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir,
                     {kBinary, "replay", "--format", "csv", file, "--brokers",
                      broker->bootstrap_servers()},
                     &out, &err),
            1);
  EXPECT_NE(err.find(file + ":3: wrong_type: ts \"yesterday\" is not an integer"),
            std::string::npos)
      << err;
  EXPECT_TRUE(ReadTopic(broker->bootstrap_servers(), "clicks", 2, 0).empty());

  ASSERT_EQ(RunToEnd(dir,
                     {kBinary, "replay", "--format", "csv", file, "--skip-bad", "--speedup", "1000",
                      "--brokers", broker->bootstrap_servers()},
                     &out, &err),
            0)
      << err;
  EXPECT_EQ(
      out.rfind(
          "replay: 2 events from " + file +
              " (csv), 1 skipped, 0 items -> items, 2 sent -> clicks, 2 delivered, 0 failed, ",
          0),
      0u)
      << out;
  EXPECT_EQ(ReadTopic(broker->bootstrap_servers(), "clicks", 2, 2).size(), 2u);

  EXPECT_NE(RunToEnd(dir, {kBinary, "replay", "--format", "parquet", file, "--brokers", "x:1"},
                     &out, &err),
            0);
  EXPECT_NE(err.find("--format: parquet not in {movielens,jsonl,csv}"), std::string::npos) << err;
}

// A backfill: a time range of clicks re-published, as it was, to another topic.
TEST(Cli, ReplayFromTopicRepublishesATimeRangeAsItWas) {
  auto broker = StartBroker(3);
  const std::string brokers = broker->bootstrap_servers();
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  const int64_t base = 1732270000000;  // 2024-11-22T10:06:40Z
  std::multiset<std::tuple<std::string, std::string, int64_t>> in_range;
  for (int i = 0; i < 200; ++i) {
    const std::string user = "u" + std::to_string(i % 7);
    const int64_t ts = base + i * 1000;
    const std::string value = R"({"user_id":")" + user + R"(","item_id":"i)" + std::to_string(i) +
                              R"(","event":"click","ts":)" + std::to_string(ts) + "}";
    ProduceMessage m;
    m.topic = "clicks";
    m.key = user;
    m.value = value;
    m.timestamp_ms = ts;
    ASSERT_TRUE((*producer)->Produce(m).ok());
    if (i >= 50 && i < 150) in_range.insert({user, value, ts});
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());

  ScratchDir dir;
  std::string out, err;
  // [10:07:30Z, base + 150 s): events 50..149.
  ASSERT_EQ(RunToEnd(dir,
                     {kBinary, "replay", "--from-topic", "clicks", "--start-time",
                      "2024-11-22T10:07:30Z", "--end-time", std::to_string(base + 150 * 1000),
                      "--topic", "clicks-backfill", "--brokers", brokers, "--no-progress"},
                     &out, &err),
            0)
      << err;
  EXPECT_EQ(out.rfind("replay: 100 of 200 records of clicks in [2024-11-22T10:07:30Z, " +
                          std::to_string(base + 150 * 1000) + ") (3 partitions, ",
                      0),
            0u)
      << out;
  EXPECT_NE(out.find("-> clicks-backfill, 100 delivered, 0 failed"), std::string::npos) << out;
  std::multiset<std::tuple<std::string, std::string, int64_t>> copied;
  std::map<std::string, int64_t> last_ts;  // one user's events keep their order
  // The target was created by the first produce to it, with the broker's default count.
  TopicAdminOptions ao;
  ao.brokers = brokers;
  auto topics = ListTopics(ao);
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  int backfill_partitions = 0;
  for (const TopicInfo& t : *topics) {
    if (t.name == "clicks-backfill") backfill_partitions = t.partitions;
  }
  ASSERT_GT(backfill_partitions, 0);
  for (const Record& r : ReadTopic(brokers, "clicks-backfill", backfill_partitions, 100)) {
    copied.insert({r.key, r.value, r.timestamp_ms});
    EXPECT_GT(r.timestamp_ms, last_ts[r.key]) << r.key;
    last_ts[r.key] = r.timestamp_ms;
  }
  EXPECT_EQ(copied.size(), in_range.size());
  EXPECT_EQ(copied, in_range);

  // Into the topic it reads: refused before anything is sent (the range would count twice).
  EXPECT_EQ(RunToEnd(dir, {kBinary, "replay", "--from-topic", "clicks", "--brokers", brokers},
                     &out, &err),
            2);
  EXPECT_NE(err.find("the range would be counted twice"), std::string::npos) << err;
  EXPECT_EQ(RunToEnd(dir,
                     {kBinary, "replay", "--from-topic", "clicks", "--topic", "x", "--start-time",
                      "noon", "--brokers", brokers},
                     &out, &err),
            2);
  EXPECT_NE(err.find("--start-time: time 'noon'"), std::string::npos) << err;
  EXPECT_EQ(RunToEnd(dir,
                     {kBinary, "replay", "--from-topic", "nope", "--topic", "x", "--brokers",
                      brokers},
                     &out, &err),
            1);
  EXPECT_NE(err.find("topic nope does not exist"), std::string::npos) << err;
  EXPECT_EQ(RunToEnd(dir, {kBinary, "replay", "--brokers", brokers}, &out, &err), 2);
  EXPECT_NE(err.find("name a history FILE (or --from-topic TOPIC)"), std::string::npos) << err;
}

TEST(Cli, RunStartsBrokerAndGeneratorUntilInterrupted) {
  ScratchDir dir;
  const std::string file = dir.File("bootstrap");
  Subprocess run({kBinary, "run", "--rate", "1000", "--metrics", "off", "--http", "127.0.0.1:0",
                  "--partitions", "2", "--bootstrap-file", file},
                 dir.File("run.out"), dir.File("run.err"));
  ASSERT_TRUE(WaitForFile(file, std::chrono::seconds(30))) << run.err();
  std::string address = ReadFile(file);
  address.pop_back();
  auto clicks = ReadTopic(address, "clicks", 2, 200);
  EXPECT_GE(clicks.size(), 200u);
  auto items = ReadTopic(address, "items", 2, 1000);
  EXPECT_EQ(items.size(), 1000u);
  run.Signal(SIGINT);
  EXPECT_EQ(run.Wait(std::chrono::seconds(30)), 0) << run.err();
  EXPECT_NE(
      run.out().find("streamrec run: embedded broker (librdkafka mock cluster) at " + address),
      std::string::npos)
      << run.out();
  EXPECT_NE(run.out().find("streamrec run: stopped; "), std::string::npos) << run.out();
}

// Stopped within its first second, some stage consumers have joined their group but hold
// no assignment yet: such a handle is left to the process's exit (librdkafka #4312), and
// its threads log reconnects to the broker that is gone while the process exits. Before
// they were silenced, about 1 stop in 3 ended in a segfault (exit 139).
TEST(Cli, RunStoppedRightAfterItStartsExitsCleanly) {
  for (int i = 0; i < 4; ++i) {
    ScratchDir dir;
    const std::string file = dir.File("bootstrap");
    Subprocess run({kBinary, "run", "--rate", "1000", "--metrics", "off", "--http", "127.0.0.1:0",
                    "--partitions", "2", "--quiet", "--bootstrap-file", file},
                   dir.File("run.out"), dir.File("run.err"));
    ASSERT_TRUE(WaitForFile(file, std::chrono::seconds(30))) << run.err();
    std::this_thread::sleep_for(std::chrono::milliseconds(250 * i));
    run.Signal(SIGINT);
    EXPECT_EQ(run.Wait(std::chrono::seconds(40)), 0) << "stop " << i << "\n" << run.err();
    EXPECT_NE(run.out().find("streamrec run: stopped; "), std::string::npos) << run.out();
  }
}

}  // namespace
}  // namespace streamrec
