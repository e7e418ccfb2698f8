// TrainingFeed (stages/trainer_stage.h) fed by the REAL user and item stages (their
// topologies on TopologyTestDrivers, no broker): p̂ from the item stage reaches the
// trainer; re-sent examples are dropped by their marks; the position stored in a snapshot
// makes a trainer crash neither lose nor repeat an example.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/records.h"
#include "operators/item_stage.h"
#include "operators/user_stage.h"
#include "serving/ranking_example.h"
#include "state/exactly_once.h"
#include "stages/trainer_stage.h"
#include "streams/catalog.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"
#include "tests/support/tiny_trainer.h"
#include "tests/support/topology_test_driver.h"
#include "training/ranker.h"

namespace streamrec::stages {
namespace {

using runtime::TopologyTestDriver;

// A scratch directory removed on destruction, without std::filesystem (this binary links
// LibTorch: see training/README.md).
class ScratchDir {
 public:
  ScratchDir() {
    auto made = file_system::MakeTempDirectory("stages-test-");
    path_ = made.ok() ? *made : "";
  }
  ~ScratchDir() { (void)file_system::RemoveAll(path_); }
  std::string Sub(const std::string& name) const { return file_system::JoinPath(path_, name); }

 private:
  std::string path_;
};

// The broker's view of a topic: delivered outputs get offsets per partition in order.
class FakeTopic {
 public:
  explicit FakeTopic(std::string name) : name_(std::move(name)) {}
  // Appends outputs (all to partition 0 unless they name one) and returns them as records.
  std::vector<Record> Append(const std::vector<state::OutboxMessage>& messages) {
    std::vector<Record> out;
    for (const auto& m : messages) {
      Record r;
      r.topic = name_;
      r.partition = m.partition < 0 ? 0 : m.partition;
      r.offset = next_[r.partition]++;
      r.key = m.key;
      r.has_key = m.has_key;
      r.value = m.value;
      for (const auto& [k, v] : m.headers) r.headers.push_back({k, v});
      log_.push_back(r);
      out.push_back(std::move(r));
    }
    return out;
  }
  const std::vector<Record>& log() const { return log_; }

 private:
  std::string name_;
  std::map<int32_t, int64_t> next_;
  std::vector<Record> log_;
};

std::set<std::string> DistinctMarks(const std::vector<Record>& records) {
  std::set<std::string> marks;
  for (const auto& r : records) {
    auto h = r.Header(state::kSourceMarkHeader);
    if (h) marks.insert(std::to_string(r.partition) + "/" + std::string(*h));
  }
  return marks;
}

Record ClickRecord(const ClickEvent& e) {
  Record r;
  r.key = e.user_id;
  r.value = EncodeClickEvent(e);
  r.timestamp_ms = e.ts_ms;
  return r;
}

operators::UserStageOptions UserOpts() {
  operators::UserStageOptions o;
  o.window = {10, 3600 * 1000};
  o.item_partitions = 1;
  return o;
}

operators::ItemStageOptions ItemOpts() {
  operators::ItemStageOptions o;
  o.estimator = {4096, 2, 0.05};
  return o;
}

TEST(TrainingFeedTest, TheItemsTableGivesTheItemTowerCategoryBrandAndId) {
  ScratchDir dir;
  TopicNames topics;
  training::TrainerOptions o = testing::TinyTrainerOptions(dir.Sub("models"), 64, 16);
  o.model.category_capacity = 16;
  o.model.brand_capacity = 16;
  auto feed = TrainingFeed::Create(o, topics);
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  auto record = [&](const CatalogItem& c) {
    Record r;
    r.topic = topics.items;
    r.key = c.item_id;
    r.value = EncodeCatalogItem(c);
    return r;
  };
  CatalogItem shoe{"item-1", "shoes", "acme"};
  CatalogItem brand_only{"item-2", "", "acme"};
  (*feed)->OnTableRecord(record(shoe));
  (*feed)->OnTableRecord(record(brand_only));
  EXPECT_EQ((*feed)->trainer().catalog_items(), 2);  // a brand alone counts too
  // Not JSON: skipped. An update with neither forgets the item's side features.
  Record bad;
  bad.topic = topics.items;
  bad.value = "{not json";
  (*feed)->OnTableRecord(bad);
  (*feed)->OnTableRecord(record(CatalogItem{"item-2", "", ""}));
  EXPECT_EQ((*feed)->trainer().catalog_items(), 1);
}

TEST(TrainingFeedTest, TrainsWithTheItemStagesPHat) {
  ScratchDir dir;
  TopicNames topics;
  TopologyTestDriver user(operators::UserStageTopology(UserOpts()), dir.Sub("state"));
  TopologyTestDriver item(operators::ItemStageTopology(ItemOpts()), dir.Sub("state"));
  ASSERT_TRUE(user.Open().ok());
  ASSERT_TRUE(item.Open().ok());
  SyntheticOptions so;
  so.num_items = 40;
  so.num_users = 30;
  SyntheticClickGenerator gen(so);
  FakeTopic deltas(topics.cooc_deltas), examples(topics.training_examples), stats(topics.item_stats);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(user.PipeInput(ClickRecord(gen.Next())).ok());
    if (i % 50 == 49) {
      ASSERT_TRUE(user.Commit().ok());
      for (const auto& r : deltas.Append(user.ReadOutput(topics.cooc_deltas))) ASSERT_TRUE(item.PipeInput(r).ok());
      ASSERT_TRUE(item.Commit().ok());
      stats.Append(item.ReadOutput(topics.item_stats));
      examples.Append(user.ReadOutput(topics.training_examples));
    }
  }
  ASSERT_FALSE(stats.log().empty());
  // The item stage's latest p̂ per item.
  std::map<uint64_t, double> p_hat;
  for (const auto& r : stats.log()) {
    auto s = DecodeItemStats(r.value);
    ASSERT_TRUE(s.ok());
    p_hat[s->item_key] = s->sampling_prob;
  }

  auto feed = TrainingFeed::Create(testing::TinyTrainerOptions(dir.Sub("models"), 64, 16), topics);
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  // As the trainer stage does: the table first (caught up), then the examples.
  for (const auto& r : stats.log()) (*feed)->OnTableRecord(r);
  for (const auto& r : examples.log()) ASSERT_TRUE((*feed)->OnExample(r).ok());
  training::Trainer& trainer = (*feed)->trainer();
  EXPECT_GT(trainer.step(), 10);
  EXPECT_EQ(trainer.examples() + (*feed)->untrained(), static_cast<int64_t>(examples.log().size()));
  // The trainer uses exactly the item stage's p̂. An item seen once has no gap yet, so the
  // item stage publishes p̂ = 0 for it and the trainer falls back (counted).
  int with_p = 0;
  for (const auto& [key, p] : p_hat) {
    if (p <= 0) {
      EXPECT_FALSE(trainer.sampling_prob(key).has_value());
      continue;
    }
    ++with_p;
    ASSERT_TRUE(trainer.sampling_prob(key).has_value());
    EXPECT_DOUBLE_EQ(*trainer.sampling_prob(key), p);
    EXPECT_LT(p, 1.0);
  }
  EXPECT_GT(with_p, 20);
  int64_t expected_fallbacks = 0;
  for (int64_t i = 0; i < trainer.examples(); ++i) {
    auto ex = DecodeTrainingExample(examples.log()[static_cast<size_t>(i)].value);
    ASSERT_TRUE(ex.ok());
    auto p = p_hat.find(ex->item_key);
    if (p == p_hat.end() || p->second <= 0) ++expected_fallbacks;
  }
  EXPECT_EQ(trainer.logq_fallbacks(), expected_fallbacks);
  EXPECT_LT(expected_fallbacks * 50, trainer.examples()) << "the real p̂ covers almost every example";

  // Without the table, the same examples fall back, and the fallback is counted.
  auto blind = TrainingFeed::Create(testing::TinyTrainerOptions("", 64, 16), topics);
  ASSERT_TRUE(blind.ok());
  for (const auto& r : examples.log()) ASSERT_TRUE((*blind)->OnExample(r).ok());
  EXPECT_EQ((*blind)->trainer().logq_fallbacks(), (*blind)->trainer().examples());
}

// User-stage crashes re-send examples (same marks); trainer crashes roll the model back
// to its snapshot, whose stored position says where to re-read. Together: every distinct
// example is trained exactly once.
TEST(TrainingFeedTest, ResendsAreDroppedAndTrainerCrashesRepeatNothing) {
  ScratchDir dir;
  TopicNames topics;
  TopologyTestDriver user(operators::UserStageTopology(UserOpts()), dir.Sub("state"));
  ASSERT_TRUE(user.Open().ok());
  SyntheticOptions so;
  so.num_items = 40;
  so.num_users = 30;
  SyntheticClickGenerator gen(so);
  FakeTopic examples(topics.training_examples);
  int user_crashes = 0;
  for (int i = 0; i < 800; ++i) {
    ASSERT_TRUE(user.PipeInput(ClickRecord(gen.Next())).ok());
    if (i % 40 == 39) {
      // Every third commit is delivered but never acknowledged, then the stage dies:
      // the reopened task sends those examples again.
      const bool crash = (i / 40) % 3 == 1;
      ASSERT_TRUE(user.Commit(/*deliver=*/true, /*ack=*/!crash).ok());
      examples.Append(user.ReadOutput(topics.training_examples));
      if (crash) {
        user.Crash();
        ASSERT_TRUE(user.Open().ok());
        ++user_crashes;
        examples.Append(user.ReadOutput(topics.training_examples));
      }
    }
  }
  const size_t distinct = DistinctMarks(examples.log()).size();
  ASSERT_GT(user_crashes, 3);
  ASSERT_GT(examples.log().size(), distinct) << "the user stage's crashes must have re-sent examples";

  // The trainer reads the topic, snapshots now and then, and is killed twice.
  training::TrainerOptions to = testing::TinyTrainerOptions(dir.Sub("models"), 64, 16);
  to.snapshot_every_steps = 3;
  to.snapshot_every_seconds = 0;
  const std::vector<Record>& log = examples.log();
  auto feed = TrainingFeed::Create(to, topics);
  ASSERT_TRUE(feed.ok());
  size_t pos = 0;
  int trainer_crashes = 0;
  int64_t now = 1;
  while (pos < log.size()) {
    ASSERT_TRUE((*feed)->OnExample(log[pos++]).ok());
    ASSERT_TRUE((*feed)->MaybeSnapshot(++now).ok());
    if ((pos == log.size() / 3 || pos == 2 * log.size() / 3) && trainer_crashes < 2) {
      // kill -9: whatever was trained since the last snapshot is gone.
      feed->reset();
      ++trainer_crashes;
      feed = TrainingFeed::Create(to, topics);
      ASSERT_TRUE(feed.ok()) << feed.status().ToString();
      auto next = (*feed)->read_position().next_offset(0);
      ASSERT_TRUE(next.has_value());
      ASSERT_LE(static_cast<size_t>(*next), pos);
      pos = static_cast<size_t>(*next);  // the consumer starts at the stored offset
      EXPECT_EQ((*feed)->trainer().examples(), (*feed)->trained_position().admitted());
    }
  }
  auto final_snapshot = (*feed)->Finish(++now);
  ASSERT_TRUE(final_snapshot.ok());
  ASSERT_EQ(trainer_crashes, 2);
  const training::Trainer& trainer = (*feed)->trainer();
  const runtime::InputPosition& trained = (*feed)->trained_position();
  EXPECT_LE((*feed)->untrained(), 1);
  EXPECT_EQ(trainer.examples() + (*feed)->untrained(), static_cast<int64_t>(distinct));
  // Every record of the log was judged exactly once in the history that survived.
  EXPECT_EQ((*feed)->read_position().duplicates(), static_cast<int64_t>(log.size() - distinct));
  EXPECT_EQ((*feed)->read_position().admitted(), static_cast<int64_t>(distinct));
  EXPECT_GT(trained.duplicates(), 0);

  // A restart from the final snapshot drops a late re-send of an old example.
  auto again = TrainingFeed::Create(to, topics);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->trainer().examples(), trainer.examples());
  Record resend = log.front();
  resend.offset = static_cast<int64_t>(log.size());
  const int64_t before = (*again)->read_position().duplicates();
  ASSERT_TRUE((*again)->OnExample(resend).ok());
  EXPECT_EQ((*again)->read_position().duplicates(), before + 1);
}

}  // namespace
}  // namespace streamrec::stages

namespace streamrec::stages {
namespace {

// A ranker-examples record as serving publishes it: `n` candidates of serving's features,
// all alike but the cooc feature (3), highest for the positive.
Record RankingRecord(int64_t offset, uint32_t n, uint32_t positive, uint32_t num_features = serving::kRankerFeatures) {
  serving::RankingExample e;
  e.user_key = 7;
  e.user_id = "u7";
  e.item_key = 1000 + positive;
  e.ts_ms = 1732270000000 + offset;
  e.positive = positive;
  e.num_features = num_features;
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t f = 0; f < num_features; ++f) {
      e.features.push_back(f == 3 ? (i == positive ? 0.9f : 0.1f) : 0.1f);
    }
  }
  Record r;
  r.topic = TopicNames().ranker_examples;
  r.offset = offset;
  r.key = e.user_id;
  r.value = serving::EncodeRankingExample(e);
  return r;
}

// The live ranker's lists (serving's ranker-examples topic) train the trainer's ranker,
// its snapshot carries ranker.bin away from the initial weights, and garbage is skipped
// and counted, never an error.
TEST(TrainingFeedTest, RankingExamplesTrainTheRankerAndGarbageIsSkipped) {
  ScratchDir dir;
  auto feed = TrainingFeed::Create(testing::TinyTrainerOptions(dir.Sub("models")), TopicNames());
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  int64_t offset = 0;
  auto garbage = [&](std::string value) {
    Record r = RankingRecord(offset++, 5, 1);
    r.value = std::move(value);
    return r;
  };
  // Garbage first: were it to create the ranker, its feature count would be wrong.
  ASSERT_TRUE((*feed)->OnRankingExample(garbage("")).ok());
  ASSERT_TRUE((*feed)->OnRankingExample(garbage("not a ranking example")).ok());
  const std::string good = RankingRecord(0, 5, 1).value;
  ASSERT_TRUE((*feed)->OnRankingExample(garbage(good.substr(0, good.size() / 2))).ok());
  ASSERT_TRUE((*feed)->OnRankingExample(RankingRecord(offset++, 5, 1, 4)).ok());  // another feature count
  EXPECT_EQ((*feed)->ranking_examples_skipped(), 4);
  EXPECT_EQ((*feed)->trainer().ranker(), nullptr);

  for (int i = 0; i < 800; ++i) {
    ASSERT_TRUE((*feed)->OnRankingExample(RankingRecord(offset++, 8, static_cast<uint32_t>(i % 8))).ok());
  }
  // A duplicate (at least once) is trained again, not an error.
  ASSERT_TRUE((*feed)->OnRankingExample(RankingRecord(offset - 1, 8, 7)).ok());
  EXPECT_EQ((*feed)->ranking_examples_read(), 805);
  EXPECT_EQ((*feed)->ranking_examples_skipped(), 4);
  ASSERT_NE((*feed)->trainer().ranker(), nullptr);
  EXPECT_EQ((*feed)->trainer().ranker()->steps(), 50);  // 801 lists, 16 a step

  auto manifest = (*feed)->trainer().WriteSnapshot(1);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_FALSE(manifest->ranker_checksum.empty());
  auto ranker = training::RankerModel::Load(manifest->dir, manifest->ranker_checksum);
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  EXPECT_EQ((*ranker)->shape().num_features, serving::kRankerFeatures);
  auto initial = training::RankerTrainer::Create(training::RankerOptions(), serving::kRankerFeatures);
  ASSERT_TRUE(initial.ok());
  auto initial_model = (*initial)->Model();
  ASSERT_TRUE(initial_model.ok());
  EXPECT_NE((*ranker)->params(), (*initial_model)->params());
  // It learnt the planted signal: the positive's list scores it first.
  const Record probe = RankingRecord(0, 8, 5);
  auto decoded = serving::DecodeRankingExample(probe.value);
  ASSERT_TRUE(decoded.ok());
  std::vector<float> scores(8);
  (*ranker)->Score(decoded->features.data(), 8, scores.data());
  EXPECT_EQ(std::max_element(scores.begin(), scores.end()) - scores.begin(), 5);
}

}  // namespace
}  // namespace streamrec::stages
