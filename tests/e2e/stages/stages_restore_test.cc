// State follows its partition (issue 10 item 3, second bullet), with the `streamrec`
// binary: `streamrec broker` (embedded broker), two `streamrec stage user` replicas, each
// with its own state directory (as two pods with their own volumes), and one `streamrec
// stage item`, all with changelog.enabled. Half of the clicks are produced; the user
// replica that owns partitions is killed with kill -9 and its state directory deleted;
// its partitions move to the other replica, which has no copy of them and restores them
// from streamrec.user-changelog (its log says so); the other half is produced. Once the
// stream drained, the item stage's state equals the batch recomputation of every click
// exactly (pairs, counts, occurrences, events): the restored windows produced exactly the
// pairs the lost ones would have.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "operators/batch_view.h"
#include "operators/state_inspection.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"
#include "tests/support/subprocess.h"

namespace streamrec::operators {
namespace {

using Clock = std::chrono::steady_clock;
using testing::ReadFile;
using testing::ScratchDir;
using testing::Subprocess;

constexpr int kPartitions = 4;
constexpr int kWindow = 20;
constexpr size_t kEvents = 8000;

// The partitions a user replica owns now, from its log ("[user] assigned clicks:P",
// "revoked", "lost"), reading from byte `from`.
std::set<int32_t> Owned(const std::string& log, size_t from = 0) {
  std::set<int32_t> owned;
  const std::string text = log.substr(std::min(from, log.size()));
  const std::regex event(R"(\[user\] (assigned|revoked|lost) )" + TopicNames().clicks + R"(:([0-9]+))");
  for (auto m = std::sregex_iterator(text.begin(), text.end(), event); m != std::sregex_iterator(); ++m) {
    const int32_t p = std::stoi((*m)[2]);
    if ((*m)[1] == "assigned") {
      owned.insert(p);
    } else {
      owned.erase(p);
    }
  }
  return owned;
}

TEST(StagesRestoreTest, AKilledUserReplicasPartitionsAreRestoredFromTheChangelogExactly) {
#ifdef STREAMREC_NO_BINARY
  GTEST_SKIP() << "streamrec binary not built";
#else
  ScratchDir dir;
  const std::string bootstrap = dir.File("bootstrap");
  Subprocess broker({STREAMREC_BINARY, "broker", "--partitions", std::to_string(kPartitions), "--bootstrap-file",
                     bootstrap},
                    dir.File("broker.out"), dir.File("broker.err"));
  std::string brokers;
  for (int i = 0; i < 300 && brokers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    brokers = ReadFile(bootstrap);
    while (!brokers.empty() && (brokers.back() == '\n' || brokers.back() == ' ')) brokers.pop_back();
  }
  ASSERT_FALSE(brokers.empty()) << broker.err();

  auto stage = [&](const std::string& stage, const std::string& state_dir) {
    return std::vector<std::string>{STREAMREC_BINARY,
                                    "--log-level=info",
                                    "--set", "kafka.session.timeout.ms=3000",
                                    "--set", "kafka.heartbeat.interval.ms=300",
                                    "--set", "operators.window.size=" + std::to_string(kWindow),
                                    "--set", "operators.item_partitions=" + std::to_string(kPartitions),
                                    "--set", "changelog.enabled=true",
                                    "stage", stage,
                                    "--brokers", brokers,
                                    "--state-dir", state_dir,
                                    "--metrics", "off",
                                    "--group", "restore-" + stage};
  };
  const std::string dir_a = dir.File("user-a"), dir_b = dir.File("user-b"), item_dir = dir.File("item");
  auto user_a = std::make_unique<Subprocess>(stage("user", dir_a), dir.File("a.out"), dir.File("a.err"));
  Subprocess item(stage("item", item_dir), dir.File("item.out"), dir.File("item.err"));
  auto log_a = [&] { return ReadFile(dir.File("a.out")) + ReadFile(dir.File("a.err")); };
  auto log_b = [&] { return ReadFile(dir.File("b.out")) + ReadFile(dir.File("b.err")); };
  struct LogsOnFailure {
    const ScratchDir& dir;
    ~LogsOnFailure() {
      if (!::testing::Test::HasFailure()) return;
      for (const char* f : {"a.err", "a.out", "b.err", "b.out", "item.err", "item.out", "broker.err"}) {
        const std::string text = ReadFile(dir.File(f));
        std::printf("---- %s (tail)\n%s\n", f, text.substr(text.size() > 3000 ? text.size() - 3000 : 0).c_str());
      }
    }
  } logs_on_failure{dir};

  SyntheticOptions so;
  so.num_items = 500;
  so.num_users = 300;
  SyntheticClickGenerator generator(so);
  std::vector<ClickEvent> events;
  for (size_t i = 0; i < kEvents; ++i) events.push_back(generator.Next());
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  auto produce = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      ASSERT_TRUE((*producer)->Produce(TopicNames().clicks, events[i].user_id, EncodeClickEvent(events[i])).ok());
    }
    ASSERT_TRUE((*producer)->Flush(30000).ok());
  };

  // A owns every partition, then B joins and takes some (cooperative-sticky).
  const auto assigned_deadline = Clock::now() + std::chrono::seconds(90);
  while (Owned(log_a()).size() != static_cast<size_t>(kPartitions) && Clock::now() < assigned_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(Owned(log_a()).size(), static_cast<size_t>(kPartitions));
  ASSERT_NO_FATAL_FAILURE(produce(0, kEvents / 2));
  Subprocess user_b(stage("user", dir_b), dir.File("b.out"), dir.File("b.err"));
  while ((Owned(log_b()).empty() || Owned(log_a()).size() + Owned(log_b()).size() != kPartitions) &&
         Clock::now() < assigned_deadline + std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::set<int32_t> a_owned = Owned(log_a());
  ASSERT_FALSE(a_owned.empty()) << "A kept no partition after B joined";
  ASSERT_FALSE(Owned(log_b()).empty()) << "B got no partition";
  // A has processed (committed, changelogged) some of its clicks: give it a moment.
  std::this_thread::sleep_for(std::chrono::seconds(2));

  // kill -9 A, and its volume is gone.
  const size_t b_log_at_kill = log_b().size();
  user_a->Signal(SIGKILL);
  EXPECT_EQ(user_a->Wait(std::chrono::seconds(10)), 128 + SIGKILL);
  user_a.reset();
  std::filesystem::remove_all(dir_a);
  ASSERT_NO_FATAL_FAILURE(produce(kEvents / 2, kEvents));

  // B takes A's partitions (after the session timeout) and restores each from the
  // changelog: B never had a copy of them.
  const auto moved_deadline = Clock::now() + std::chrono::seconds(90);
  while (Owned(log_b()).size() != static_cast<size_t>(kPartitions) && Clock::now() < moved_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(Owned(log_b()).size(), static_cast<size_t>(kPartitions)) << "A's partitions did not move to B";
  const std::string after_kill = log_b().substr(b_log_at_kill);
  int restored = 0;
  for (int32_t p : a_owned) {
    const std::regex line(R"(\[user\] assigned )" + TopicNames().clicks + ":" + std::to_string(p) +
                          R"( from offset -?[0-9]+ \([0-9]+ outbox messages to re-send, restored from )" +
                          kUserChangelogTopic + R"(\))");
    const bool found = std::regex_search(after_kill, line);
    EXPECT_TRUE(found) << "partition " << p << " was not restored from " << kUserChangelogTopic;
    restored += found ? 1 : 0;
  }

  // Drained: the item stage's state equals the batch recomputation exactly.
  UserWindowOptions window;
  window.max_items = kWindow;
  const BatchView expected = ComputeBatchView(events, window, CoocOptions());
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  bool converged = false;
  while (!converged && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto got = ReadItemStageState(item_dir, kPartitions);
    converged = got.ok() && got->events == expected.events && got->pair_counts == expected.pair_counts &&
                got->item_counts == expected.item_counts;
  }
  user_b.Signal(SIGTERM);
  item.Signal(SIGTERM);
  EXPECT_EQ(user_b.Wait(std::chrono::seconds(60)), 0);
  EXPECT_EQ(item.Wait(std::chrono::seconds(60)), 0);
  auto got = ReadItemStageState(item_dir, kPartitions);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::printf("A owned %zu partitions at its kill; %d restored by B from the changelog; %llu events\n",
              a_owned.size(), restored, static_cast<unsigned long long>(got->events));
  EXPECT_EQ(got->events, expected.events);
  EXPECT_EQ(got->item_counts, expected.item_counts);
  EXPECT_EQ(got->item_occurrences, expected.item_occurrences);
  EXPECT_EQ(got->pair_counts.size(), expected.pair_counts.size());
  EXPECT_TRUE(got->pair_counts == expected.pair_counts) << "pair counts differ";
  broker.Signal(SIGTERM);
  broker.Wait(std::chrono::seconds(30));
#endif
}

}  // namespace
}  // namespace streamrec::operators
