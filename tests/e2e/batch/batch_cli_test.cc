// `streamrec batch` as a user runs it.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "batch/batch_manifest.h"
#include "operators/batch_view.h"
#include "operators/batch_view_store.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

using testing::ReadFile;
using testing::RunToEnd;
using testing::ScratchDir;
using testing::Subprocess;
using testing::WriteFile;

const std::string kBinary = STREAMREC_BINARY;

bool HasTempDir(const std::string& root) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    if (e.path().filename().string().rfind(".batch-tmp.", 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> Entries(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) out.push_back(e.path().filename().string());
  return out;
}

TEST(BatchCli, HelpNamesTheDefaults) {
  ScratchDir dir;
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--help"}, &out, &err), 0) << err;
  for (const char* want : {"--out", "streamrec-batch", "--end-offsets", "--from-topic", "--format", "batch-v<N>",
                           "Ctrl-C"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << " in:\n" << out;
  }
  ASSERT_EQ(RunToEnd(dir, {kBinary, "--help"}, &out, &err), 0);
  EXPECT_NE(out.find("batch"), std::string::npos);
}

TEST(BatchCli, BadInputGetsClearErrors) {
  ScratchDir dir;
  WriteFile(dir.File("h.csv"), "user_id,item_id,event,ts\nu1,i1,click,1732270000123\nu1,i2,click,oops\n");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{dir.File("h.csv")}, 2, "--format is required"},
      {{dir.File("h.csv"), "--format", "parquet"}, 2, "parquet"},
      {{"--format", "csv"}, 2, "go with a history FILE"},
      {{dir.File("h.csv"), "--format", "csv", "--end-offsets", "5"}, 2, "not both"},
      {{dir.File("missing.csv"), "--format", "csv", "--out", dir.File("o")}, 1, "missing.csv"},
      {{dir.File("h.csv"), "--format", "csv", "--out", dir.File("o")}, 1, "h.csv:3"},
      {{"--brokers", "127.0.0.1:1", "--end-offsets", "1,x"}, 2, "'x' is not an offset"},
      {{"--end-offsets", "1"}, 2, "bootstrap"},
      {{dir.File("h.csv"), "--format", "csv", "--set", "operators.similarity=nope"}, 2, "nope"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {kBinary, "batch"};
    // --set is a global flag: before the subcommand.
    std::vector<std::string> rest;
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (c.args[i] == "--set") {
        argv.insert(argv.begin() + 1, {"--set", c.args[i + 1]});
        ++i;
      } else {
        rest.push_back(c.args[i]);
      }
    }
    argv.insert(argv.end(), rest.begin(), rest.end());
    std::string out, err;
    EXPECT_EQ(RunToEnd(dir, argv, &out, &err), c.code) << c.says << "\n" << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << "wanted '" << c.says << "' in: " << err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("o/batch-v000001")));
  // --skip-bad writes a version of the good line.
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", dir.File("h.csv"), "--format", "csv", "--skip-bad", "--out", dir.File("o")},
                     &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("version 1"), std::string::npos) << out;
  EXPECT_NE(out.find("1 events (1 left out)"), std::string::npos) << out;
}

TEST(BatchCli, MovieLensMakesACompleteVersionEachRun) {
  auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  ScratchDir dir;
  const std::string out_dir = dir.File("views");
  for (int run = 1; run <= 2; ++run) {
    std::string out, err;
    ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", *ml + "/u.data", "--format", "movielens", "--out", out_dir}, &out, &err),
              0)
        << err;
    EXPECT_NE(out.find("batch: version " + std::to_string(run)), std::string::npos) << out;
    EXPECT_NE(out.find("100000 events"), std::string::npos) << out;
    EXPECT_NE(out.find("1682 items"), std::string::npos) << out;
  }
  EXPECT_EQ(batch::ListVersions(out_dir), (std::vector<int64_t>{1, 2}));
  auto m = batch::LatestVersion(out_dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->source.kind, batch::BatchSource::Kind::kFile);
  EXPECT_EQ(m->source.lines, 100000);
  EXPECT_EQ(m->events, 100000);
  EXPECT_EQ(m->total_weight, 500000);  // every rating a purchase, weight 5
  EXPECT_TRUE(batch::VerifyVersion(*m).ok());
  EXPECT_FALSE(HasTempDir(out_dir));
}

TEST(BatchCli, CtrlCLeavesNoVersion) {
  auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  ScratchDir dir;
  const std::string out_dir = dir.File("views");
  Subprocess p({kBinary, "batch", *ml + "/u.data", "--format", "movielens", "--out", out_dir}, dir.File("o"),
               dir.File("e"));
  // Once the version is being built (its temporary directory exists), Ctrl-C.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!HasTempDir(out_dir) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(HasTempDir(out_dir)) << p.err();
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(std::chrono::seconds(30)), 130) << p.err();
  EXPECT_NE(p.err().find("stopped; no version written"), std::string::npos) << p.err();
  EXPECT_EQ(Entries(out_dir), std::vector<std::string>{}) << "nothing left behind";
  // A rerun makes version 1, complete.
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", *ml + "/u.data", "--format", "movielens", "--out", out_dir,
                           "--no-progress"},
                     &out, &err),
            0)
      << err;
  EXPECT_EQ(batch::ListVersions(out_dir), std::vector<int64_t>{1});
}

TEST(BatchCli, FromTheClicksTopicUpToTheEndOffsets) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"clicks", 3}};
  auto broker = EmbeddedBroker::Start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string brokers = (*broker)->bootstrap_servers();
  SyntheticClickGenerator gen(SyntheticOptions{});
  std::vector<ClickEvent> events;
  ProducerOptions po;
  po.brokers = brokers;
  auto producer = KafkaProducer::Create(po);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 3000; ++i) {
    events.push_back(gen.Next());
    ASSERT_TRUE((*producer)->Produce("clicks", events.back().user_id, EncodeClickEvent(events.back())).ok());
  }
  ASSERT_TRUE((*producer)->Produce("clicks", "x", "{not json").ok());
  ASSERT_TRUE((*producer)->Flush(30000).ok());

  ScratchDir dir;
  const std::string out_dir = dir.File("views");
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--no-progress"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("3000 events (1 left out) from clicks up to offsets"), std::string::npos) << out;
  EXPECT_NE(err.find("bad_json 1"), std::string::npos) << err;
  auto m = batch::LatestVersion(out_dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->source.partitions.size(), 3u);
  int64_t total = 0;
  for (const auto& p : m->source.partitions) total += p.end;
  EXPECT_EQ(total, 3001);
  operators::BatchView view;
  ASSERT_TRUE(operators::ReadItemStateDb(m->dir + "/view", 0, 1, &view).ok());
  const operators::BatchView want = operators::ComputeBatchView(events, {}, {});
  EXPECT_EQ(view.item_counts, want.item_counts);
  EXPECT_TRUE(view.pair_counts == want.pair_counts);

  // A cutoff of its own: nothing of partitions 1 and 2.
  const std::string cutoff = std::to_string(m->source.partitions[0].end) + ",0,0";
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--end-offsets", cutoff}, &out,
                     &err),
            0)
      << err;
  auto m2 = batch::LatestVersion(out_dir);
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m2->version, 2);
  EXPECT_EQ(m2->records, m->source.partitions[0].end);
  // Past the end offset: refused, naming the partition.
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--end-offsets", "0,0,999999"},
                     &out, &err),
            1);
  EXPECT_NE(err.find("clicks/2"), std::string::npos) << err;
}

}  // namespace
}  // namespace streamrec
