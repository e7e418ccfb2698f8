// Hot swap under load (issue 5): a client sends requests without pause while six model
// versions are announced on streamrec.models, one of them corrupt. No request fails or
// is dropped, the corrupt version is refused (and never served), and the versions in
// the responses never go backwards. The serving stage runs as its own process, as the
// Helm chart runs it; the snapshots are written by the real trainer.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/id_hash.h"
#include "core/records.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

int64_t VersionOf(const std::string& body) {
  static const std::regex re(R"("model_version":(-?[0-9]+))");
  std::smatch m;
  return std::regex_search(body, m, re) ? std::stoll(m[1]) : -1;
}

template <typename Pred>
bool WaitFor(Pred pred, seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return pred();
}

TEST(HotSwapE2eTest, SixVersionsOneCorruptUnderContinuousLoad) {
  testing::ScratchDir dir;
  // `streamrec broker` in its own process; in the real-kafka set the real broker instead,
  // the topics made there under this test's names.
  std::unique_ptr<testing::TestBroker> real;
  {
    const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
    if (target.skip_reason) GTEST_SKIP() << *target.skip_reason;
    if (target.real) {
      EmbeddedBrokerOptions bo;
      bo.default_partitions = 2;
      auto started = testing::TestBroker::Start(bo, target);
      ASSERT_TRUE(started.ok()) << started.status().ToString();
      real = std::move(started).value();
    }
  }
  const TopicNames topics = real ? real->Names() : TopicNames();
  std::unique_ptr<testing::Subprocess> broker;
  std::string bootstrap;
  if (real) {
    bootstrap = real->bootstrap_servers();
  } else {
    broker = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{STREAMREC_BINARY, "broker", "--partitions", "2",
                                 "--bootstrap-file", dir.File("bootstrap")},
        dir.File("broker.out"), dir.File("broker.err"));
    ASSERT_TRUE(WaitFor([&] { return !testing::ReadFile(dir.File("bootstrap")).empty(); }, seconds(30)))
        << broker->err();
    bootstrap = testing::ReadFile(dir.File("bootstrap"));
  }

  std::vector<std::string> serving_argv = {
      STREAMREC_BINARY, "stage", "serving", "--brokers", bootstrap,
      "--http", "127.0.0.1:0", "--metrics", "off", "--state-dir",
      dir.File("serving-state"), "--set", "serving.sanity.min_events=0",
      "--set", "serving.model_store=" + dir.File("models")};
  if (real) {
    for (const std::string& flag : real->TopicFlags()) serving_argv.push_back(flag);
    serving_argv.push_back("--set");
    serving_argv.push_back("serving.group_id=" + real->Group("streamrec-serving"));
  }
  testing::Subprocess serving(serving_argv, dir.File("serving.out"), dir.File("serving.err"));
  std::string host;
  int port = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::smatch m;
    const std::string out = serving.out();
    static const std::regex re(R"(http://([0-9.]+):([0-9]+))");
    if (!std::regex_search(out, m, re)) return false;
    host = m[1];
    port = std::stoi(m[2]);
    return true;
  }, seconds(60))) << serving.err();

  // Six snapshots from the real trainer on a small synthetic stream.
  training::TrainerOptions o;
  o.model.embedding_dim = 16;
  o.model.hidden_dim = 32;
  o.model.output_dim = 16;
  o.model.user_capacity = 1000;
  o.model.item_capacity = 1000;
  o.batch_size = 32;
  o.device = "cpu";
  o.keep_snapshots = 0;
  o.model_dir = dir.File("models");
  auto trainer = training::Trainer::Create(o);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::vector<training::SnapshotManifest> manifests;
  for (int v = 0; v < 6; ++v) {
    for (int i = 0; i < 256; ++i) {
      TrainingExample e;
      e.user_id = "user-" + std::to_string(i % 40);
      e.user_key = HashId(e.user_id);
      e.item_id = "item-" + std::to_string((i * 7 + v) % 200);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1732270000000 + v * 1000 + i;
      ASSERT_TRUE((*trainer)->AddExample(e).ok());
    }
    auto m = (*trainer)->WriteSnapshot(1732270000000 + v);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manifests.push_back(*m);
  }
  // Version 4 is damaged on disk after it was written: its items no longer match the
  // checksum its manifest (and announcement) carry.
  const training::SnapshotManifest& corrupt = manifests[3];
  {
    std::fstream items(corrupt.dir + "/items.bin", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(items.good());
    items.seekp(64);
    const char garbage[16] = {'\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f',
                              '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f'};
    items.write(garbage, sizeof(garbage));
  }

  // Load: two HTTP clients, each sending requests back to back.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0}, failed{0}, backwards{0}, served_corrupt{0};
  std::vector<std::thread> clients;
  std::mutex seen_mu;
  std::set<int64_t> seen_versions;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client(host, port);
      client.set_read_timeout(10);
      int64_t last = -1;
      std::set<int64_t> local;
      for (int i = 0; !stop.load(); ++i) {
        const std::string path = "/v1/recommendations?user_id=user-" + std::to_string((i + c) % 50) + "&k=10";
        auto res = client.Get(path.c_str());
        sent.fetch_add(1);
        if (!res || res->status != 200) {
          failed.fetch_add(1);
          continue;
        }
        const int64_t v = VersionOf(res->body);
        if (v < last) backwards.fetch_add(1);
        if (v == corrupt.version) served_corrupt.fetch_add(1);
        last = v;
        local.insert(v);
      }
      std::lock_guard<std::mutex> lock(seen_mu);
      seen_versions.insert(local.begin(), local.end());
    });
  }

  ProducerOptions po;
  po.brokers = bootstrap;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  // Requests on Kafka during the swaps, too: every one must be answered.
  int kafka_requests = 0;
  auto current_version = [&] {
    httplib::Client client(host, port);
    auto res = client.Get("/readyz");
    return res ? VersionOf(res->body) : -1;
  };
  for (const auto& m : manifests) {
    const auto announcement = training::ModelAnnouncement::FromManifest(m);
    ASSERT_TRUE((*producer)->Produce(topics.models, "two_tower", announcement.ToJson()).ok());
    ASSERT_TRUE((*producer)->Flush(10000).ok());
    for (int r = 0; r < 5; ++r, ++kafka_requests) {
      const std::string user = "user-" + std::to_string(r);
      const std::string req = R"({"request_id":"swap-)" + std::to_string(kafka_requests) +
                              R"(","user_id":")" + user + R"(","k":5})";
      ASSERT_TRUE((*producer)->Produce(topics.rec_requests, user, req).ok());
    }
    ASSERT_TRUE((*producer)->Flush(10000).ok());
    if (&m == &corrupt) {
      // Refused: the version stays where it was.
      std::this_thread::sleep_for(milliseconds(500));
      EXPECT_EQ(current_version(), manifests[2].version);
    } else {
      EXPECT_TRUE(WaitFor([&] { return current_version() == m.version; }, seconds(60)))
          << "version " << m.version << " was not swapped in\n" << serving.err();
    }
  }
  std::this_thread::sleep_for(milliseconds(300));
  stop.store(true);
  for (auto& t : clients) t.join();

  std::printf("%lld HTTP requests during the swaps, %zu versions served, %d Kafka requests\n",
              static_cast<long long>(sent.load()), seen_versions.size(), kafka_requests);
  EXPECT_GT(sent.load(), 50);
  EXPECT_EQ(failed.load(), 0) << "of " << sent.load() << " requests";
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(served_corrupt.load(), 0);
  EXPECT_EQ(current_version(), manifests[5].version);
  EXPECT_EQ(seen_versions.count(corrupt.version), 0u);
  EXPECT_GE(seen_versions.size(), 3u) << "the load ran across several versions";

  // Every Kafka request was answered exactly once.
  ConsumerOptions co;
  co.brokers = bootstrap;
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok());
  auto parts = (*consumer)->PartitionCount(topics.recommendations, 10000);
  ASSERT_TRUE(parts.ok());
  std::vector<TopicPartitionOffset> assignment;
  for (int p = 0; p < *parts; ++p) assignment.push_back({topics.recommendations, p, kOffsetBeginning});
  ASSERT_TRUE((*consumer)->Assign(assignment).ok());
  std::map<std::string, int> answers;
  static const std::regex rid(R"re("request_id":"(swap-[0-9]+)")re");
  WaitFor([&] {
    Record rec;
    while (true) {
      auto got = (*consumer)->Poll(100, &rec);
      if (!got.ok() || !*got) break;
      std::smatch m;
      if (std::regex_search(rec.value, m, rid)) ++answers[m[1]];
    }
    return static_cast<int>(answers.size()) == kafka_requests;
  }, seconds(60));
  EXPECT_EQ(static_cast<int>(answers.size()), kafka_requests);
  for (const auto& [id, n] : answers) EXPECT_EQ(n, 1) << id;

  // The refusal is visible to operators.
  httplib::Client client(host, port);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find(R"m(streamrec_model_loads_total{component="two_tower",result="refused"} 1)m"),
            std::string::npos)
      << metrics->body.substr(0, 4000);

  serving.Signal(SIGTERM);
  EXPECT_EQ(serving.Wait(seconds(60)), 0) << serving.err();
  if (broker) {
    broker->Signal(SIGTERM);
    EXPECT_EQ(broker->Wait(seconds(30)), 0);
  }
}

}  // namespace
}  // namespace streamrec
