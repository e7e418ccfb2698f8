// `streamrec batch` as a user runs it.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "batch/batch_announcement.h"
#include "batch/batch_manifest.h"
#include "operators/batch_view.h"
#include "operators/batch_view_store.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "training/snapshot.h"
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
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", dir.File("h.csv"), "--format", "csv", "--skip-bad", "--no-model", "--out", dir.File("o")},
                     &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("version 1"), std::string::npos) << out;
  EXPECT_NE(out.find("1 events (1 left out)"), std::string::npos) << out;
}

// --keep N: after the new version is written, only the newest N stay.
TEST(BatchCli, KeepRemovesAllButTheNewestVersions) {
  ScratchDir dir;
  testing::WriteFile(dir.File("h.csv"), "user_id,item_id,event,ts\nu1,i1,click,1000000000000\nu1,i2,click,1000000001000\n");
  const std::string out_dir = dir.File("views");
  for (int run = 1; run <= 4; ++run) {
    std::string out, err;
    ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", dir.File("h.csv"), "--format", "csv", "--no-model", "--keep", "2",
                             "--out", out_dir},
                       &out, &err),
              0)
        << err;
    if (run >= 3) EXPECT_NE(out.find("removed 1 old version(s)"), std::string::npos) << out;
  }
  EXPECT_EQ(batch::ListVersions(out_dir), (std::vector<int64_t>{3, 4}));
}

TEST(BatchCli, MovieLensMakesACompleteVersionEachRun) {
  auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  ScratchDir dir;
  const std::string out_dir = dir.File("views");
  for (int run = 1; run <= 2; ++run) {
    std::string out, err;
    ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", *ml + "/u.data", "--format", "movielens", "--no-model", "--out", out_dir}, &out,
                       &err),
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
  Subprocess p({kBinary, "batch", *ml + "/u.data", "--format", "movielens", "--no-model", "--out", out_dir}, dir.File("o"),
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
                           "--no-progress", "--no-model"},
                     &out, &err),
            0)
      << err;
  EXPECT_EQ(batch::ListVersions(out_dir), std::vector<int64_t>{1});
}

TEST(BatchCli, FromTheClicksTopicUpToTheEndOffsets) {
  EmbeddedBrokerOptions bo;
  bo.topics = {{"clicks", 3}, {"streamrec.batch", 1}};
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
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--no-progress", "--no-model"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("3000 events (1 left out) from clicks up to offsets"), std::string::npos) << out;
  EXPECT_NE(out.find("announced on streamrec.batch"), std::string::npos) << out;
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
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--end-offsets", cutoff, "--no-model"}, &out,
                     &err),
            0)
      << err;
  auto m2 = batch::LatestVersion(out_dir);
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m2->version, 2);
  EXPECT_EQ(m2->records, m->source.partitions[0].end);
  // Each version was announced on streamrec.batch, keyed by the view's name.
  ConsumerOptions co;
  co.brokers = brokers;
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign({{"streamrec.batch", 0, kOffsetBeginning}}).ok());
  std::vector<Record> announced;
  for (int i = 0; i < 100 && announced.size() < 2; ++i) ASSERT_TRUE((*consumer)->PollBatch(10, 100, &announced).ok());
  ASSERT_EQ(announced.size(), 2u);
  for (int v = 1; v <= 2; ++v) {
    const Record& r = announced[static_cast<size_t>(v - 1)];
    EXPECT_EQ(r.key, "items");
    auto a = batch::BatchAnnouncement::FromJson(r.value);
    ASSERT_TRUE(a.ok()) << a.status().ToString() << r.value;
    EXPECT_EQ(a->version, v);
    EXPECT_EQ(a->path, std::filesystem::canonical(out_dir + "/" + batch::VersionDirName(v)).string());
    ASSERT_EQ(a->cutoff.size(), 3u);
    EXPECT_EQ(a->cutoff[0].end, m->source.partitions[0].end);
  }
  EXPECT_EQ(batch::BatchAnnouncement::FromJson(announced[1].value)->cutoff[1].end, 0);
  // --no-announce: a version, no message.
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--no-announce", "--no-model"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("not announced (--no-announce)"), std::string::npos) << out;
  (*consumer)->PollBatch(10, 1000, &announced);
  EXPECT_EQ(announced.size(), 2u);

  // Past the end offset: refused, naming the partition.
  ASSERT_EQ(RunToEnd(dir, {kBinary, "batch", "--brokers", brokers, "--out", out_dir, "--end-offsets", "0,0,999999", "--no-model"},
                     &out, &err),
            1);
  EXPECT_NE(err.find("clicks/2"), std::string::npos) << err;
}

// The synthetic stream as a JSON-lines history file.
std::string SyntheticHistory(const ScratchDir& dir, int n) {
  SyntheticClickGenerator gen(SyntheticOptions{});
  std::string text;
  for (int i = 0; i < n; ++i) text += EncodeClickEvent(gen.Next()) + "\n";
  const std::string path = dir.File("history.jsonl");
  WriteFile(path, text);
  return path;
}

const std::vector<std::string> kSmallModel = {"--set", "trainer.device=cpu", "--set", "trainer.batch_size=256",
                                              "--set", "trainer.user_capacity=4096",
                                              "--set", "trainer.item_capacity=4096"};

std::vector<std::string> WithSmallModel(std::vector<std::string> args) {
  std::vector<std::string> argv = {kBinary};
  argv.insert(argv.end(), kSmallModel.begin(), kSmallModel.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

TEST(BatchCli, TrainsTheModelIntoTheVersion) {
  ScratchDir dir;
  const std::string history = SyntheticHistory(dir, 3000);
  const std::string out_dir = dir.File("views");
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, WithSmallModel({"batch", history, "--format", "jsonl", "--epochs", "2", "--out", out_dir}),
                     &out, &err, "", 240),
            0)
      << out << err;
  EXPECT_NE(out.find("model: 2 epochs"), std::string::npos) << out;
  auto m = batch::LatestVersion(out_dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->has_model);
  EXPECT_EQ(m->model.epochs, 2);
  EXPECT_EQ(m->model.examples, 6000);
  EXPECT_GT(m->model.steps, 0);
  EXPECT_GT(m->model.num_items, 0);
  EXPECT_TRUE(batch::VerifyVersion(*m).ok());
  EXPECT_FALSE(std::filesystem::exists(m->dir + "/training-input.bin"));
  EXPECT_FALSE(std::filesystem::exists(m->dir + "/model.summary.json"));
  // The snapshot is what serving loads.
  auto snapshot = training::ModelSnapshot::Load(m->dir + "/model");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  // The global --set flags reached streamrec-model.
  EXPECT_EQ((*snapshot)->manifest().model.item_capacity, 4096);
  EXPECT_EQ((*snapshot)->manifest().examples, 6000);
}

TEST(BatchCli, CtrlCWhileTheModelTrainsLeavesNoVersion) {
  ScratchDir dir;
  const std::string history = SyntheticHistory(dir, 3000);
  const std::string out_dir = dir.File("views");
  Subprocess p(WithSmallModel({"batch", history, "--format", "jsonl", "--epochs", "1000", "--out", out_dir}),
               dir.File("o"), dir.File("e"));
  // The view is written and the model is training (its input is there): Ctrl-C to the
  // batch process only, which passes it on to streamrec-model.
  auto training = [&] {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(out_dir, ec)) {
      if (std::filesystem::exists(e.path() / "view") && std::filesystem::exists(e.path() / "training-input.bin")) {
        return true;
      }
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!training() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(training()) << p.err();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // streamrec-model has started
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(std::chrono::seconds(60)), 130) << p.err();
  EXPECT_NE(p.err().find("stopped; no version written"), std::string::npos) << p.err();
  EXPECT_EQ(Entries(out_dir), std::vector<std::string>{}) << "nothing left behind";
}

}  // namespace
}  // namespace streamrec
