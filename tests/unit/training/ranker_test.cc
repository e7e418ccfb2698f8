#include "training/ranker.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "tests/support/tiny_trainer.h"
#include "training/ranker_trainer.h"
#include "training/snapshot.h"
#include "training/snapshot_format.h"
#include "training/trainer.h"

namespace streamrec::training {
namespace {


// A toy list: n candidates of 4 features each, uniform in [0, 1); the clicked one is the
// candidate with the largest x2 - x0 (the other two features are noise). A linear rule
// separates it; an untrained ranker finds it about 1 in n times.
RankingList ToyList(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<float> u(0, 1);
  RankingList list;
  list.features.resize(n * 4);
  float best = -2;
  for (size_t i = 0; i < n; ++i) {
    for (size_t f = 0; f < 4; ++f) list.features[i * 4 + f] = u(rng);
    const float v = list.features[i * 4 + 2] - list.features[i * 4 + 0];
    if (v > best) {
      best = v;
      list.positive = i;
    }
  }
  return list;
}

// Share of `lists` whose clicked candidate the model scores highest.
double TopOneAccuracy(const RankerModel& model, const std::vector<RankingList>& lists) {
  int hits = 0;
  for (const RankingList& l : lists) {
    const size_t n = l.features.size() / 4;
    std::vector<float> s(n);
    model.Score(l.features.data(), n, s.data());
    size_t arg = 0;
    for (size_t i = 1; i < n; ++i) {
      if (s[i] > s[arg]) arg = i;
    }
    hits += arg == l.positive ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(lists.size());
}

class RankerLearnsTest : public ::testing::TestWithParam<int64_t> {};

// With the MLP alone (-1) and with feature 0 added to its output (the served default,
// here a feature the rule weighs negatively, so the MLP has to undo it).
TEST_P(RankerLearnsTest, LearnsASeparableToyProblem) {
  RankerOptions o;
  o.learning_rate = 1e-2;
  o.residual_feature = GetParam();
  auto trainer = RankerTrainer::Create(o, 4);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::mt19937_64 rng(3);
  std::vector<RankingList> held_out;
  for (int i = 0; i < 200; ++i) held_out.push_back(ToyList(rng, 20));
  auto before = (*trainer)->Model();
  ASSERT_TRUE(before.ok());
  const double untrained = TopOneAccuracy(**before, held_out);
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE((*trainer)->Add(ToyList(rng, 20)).ok());
  ASSERT_TRUE((*trainer)->Flush().ok());
  EXPECT_EQ((*trainer)->lists(), 3000);
  EXPECT_GT((*trainer)->steps(), 100);
  auto after = (*trainer)->Model();
  ASSERT_TRUE(after.ok());
  const double trained = TopOneAccuracy(**after, held_out);
  EXPECT_LT(untrained, 0.3);
  EXPECT_GT(trained, 0.8) << "untrained " << untrained;
}

INSTANTIATE_TEST_SUITE_P(Residual, RankerLearnsTest, ::testing::Values(-1, 0));

TEST(RankerModelTest, TheResidualFeatureIsAddedToTheOutput) {
  RankerShape shape{3, 2, 2, 1};
  auto zero = RankerModel::Create(shape, std::vector<float>(RankerModel::NumParams(shape), 0.0f));
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  const std::vector<float> x = {0.1f, 0.7f, 0.3f, 0.4f, -0.2f, 0.9f};
  std::vector<float> out(2);
  (*zero)->Score(x.data(), 2, out.data());
  EXPECT_EQ(out, (std::vector<float>{0.7f, -0.2f}));  // a zero MLP keeps the given order
  shape.residual_feature = 3;  // out of range
  EXPECT_FALSE(RankerModel::Create(shape, std::vector<float>(RankerModel::NumParams(shape))).ok());
}

// Creating a ranker leaves the global random stream where it was (the two-tower
// trainer's draws are the same with the ranking stage on or off), and the ranker's own
// initialisation depends on its seed only.
TEST(RankerTrainerTest, CreationLeavesTheGlobalRandomStreamAlone) {
  torch::manual_seed(123);
  const torch::Tensor expected = torch::rand({8});
  torch::manual_seed(123);
  auto first = RankerTrainer::Create({}, 4);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected));
  (void)torch::rand({16});  // another global state
  auto second = RankerTrainer::Create({}, 4);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*(*first)->Model())->params(), (*(*second)->Model())->params());
}

TEST(RankerTrainerTest, RejectsMalformedLists) {
  auto trainer = RankerTrainer::Create({}, 4);
  ASSERT_TRUE(trainer.ok());
  RankingList l;
  l.features.assign(7, 0.0f);  // not a multiple of 4
  EXPECT_FALSE((*trainer)->Add(l).ok());
  l.features.assign(4, 0.0f);  // one candidate
  EXPECT_FALSE((*trainer)->Add(l).ok());
  l.features.assign(8, 0.0f);
  l.positive = 2;  // out of range
  EXPECT_FALSE((*trainer)->Add(l).ok());
  l.positive = 1;
  EXPECT_TRUE((*trainer)->Add(l).ok());
}

TEST(RankerModelTest, EncodeDecodeRoundTripScoresTheSame) {
  auto trainer = RankerTrainer::Create({}, 4);
  ASSERT_TRUE(trainer.ok());
  std::mt19937_64 rng(5);
  for (int i = 0; i < 64; ++i) ASSERT_TRUE((*trainer)->Add(ToyList(rng, 10)).ok());
  auto model = (*trainer)->Model();
  ASSERT_TRUE(model.ok());
  const std::string bytes = (*model)->Encode();
  auto back = RankerModel::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)->params(), (*model)->params());
  const RankingList l = ToyList(rng, 10);
  std::vector<float> a(10), b(10);
  (*model)->Score(l.features.data(), 10, a.data());
  (*back)->Score(l.features.data(), 10, b.data());
  EXPECT_EQ(a, b);
  // Truncated, trailing bytes and a wrong magic are refused.
  EXPECT_FALSE(RankerModel::Decode(bytes.substr(0, bytes.size() - 4)).ok());
  EXPECT_FALSE(RankerModel::Decode(bytes + "x").ok());
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(RankerModel::Decode(bad).ok());
  // A parameter that is not finite is refused.
  std::vector<float> p = (*model)->params();
  p[3] = std::nanf("");
  EXPECT_FALSE(RankerModel::Create((*model)->shape(), p).ok());
  // Another trainer continues from the same parameters.
  auto other = RankerTrainer::Create({}, 4);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->LoadFrom(**back).ok());
  EXPECT_EQ((*(*other)->Model())->params(), (*model)->params());
  auto wider = RankerTrainer::Create({}, 5);
  ASSERT_TRUE(wider.ok());
  EXPECT_FALSE((*wider)->LoadFrom(**back).ok());
}

class TrainerRankerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/ranker_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto trainer = Trainer::Create(testing::TinyTrainerOptions(dir_ + "/store"));
    ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
    trainer_ = std::move(trainer).value();
    for (int i = 0; i < 16; ++i) {
      TrainingExample e;
      e.user_id = "u" + std::to_string(i % 5);
      e.user_key = HashId(e.user_id);
      e.item_id = "i" + std::to_string((i * 3) % 12);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1000000 + i;
      ASSERT_TRUE(trainer_->AddExample(e).ok());
    }
  }
  void TearDown() override {
    trainer_.reset();
    (void)file_system::RemoveAll(dir_);
  }
  std::string dir_;
  std::unique_ptr<Trainer> trainer_;
};

TEST_F(TrainerRankerTest, ASnapshotCarriesTheRankerOnceItTrained) {
  // No ranking list yet: no ranker in the snapshot.
  auto first = trainer_->WriteSnapshot(2000000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->ranker_checksum.empty());
  EXPECT_FALSE(file_system::Exists(first->dir + "/" + kRankerFile));

  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(trainer_->AddRankingList(ToyList(rng, 10), 4).ok());
  // Another feature count than the ranker's is refused.
  RankingList five;
  five.features.assign(10, 0.0f);
  EXPECT_FALSE(trainer_->AddRankingList(five, 5).ok());
  auto second = trainer_->WriteSnapshot(3000000);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_FALSE(second->ranker_checksum.empty());
  // The partial batch (20 = 16 + 4) was trained on before the snapshot.
  EXPECT_EQ(trainer_->ranker()->lists(), 20);
  auto manifest = ReadSnapshotManifest(second->dir);
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->ranker_checksum, second->ranker_checksum);
  auto ranker = RankerModel::Load(second->dir, manifest->ranker_checksum);
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  EXPECT_EQ((*ranker)->shape().num_features, 4);
  EXPECT_EQ((*ranker)->params(), (*trainer_->ranker()->Model())->params());
  // A changed file fails its checksum.
  ASSERT_TRUE(snapshot_format::WriteFile(second->dir + "/" + kRankerFile, "garbage").ok());
  EXPECT_FALSE(RankerModel::Load(second->dir, manifest->ranker_checksum).ok());
  // The two-tower snapshot itself still loads.
  EXPECT_TRUE(ModelSnapshot::Load(second->dir).ok());
}

TEST_F(TrainerRankerTest, AResumedTrainerContinuesTheSnapshotsRanker) {
  std::mt19937_64 rng(9);
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(trainer_->AddRankingList(ToyList(rng, 10), 4).ok());
  auto written = trainer_->WriteSnapshot(2000000);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::vector<float> saved = (*trainer_->ranker()->Model())->params();
  trainer_.reset();
  auto resumed = Trainer::Create(testing::TinyTrainerOptions(dir_ + "/store"));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_EQ((*resumed)->ranker(), nullptr);  // created by the first list
  RankingList l = ToyList(rng, 10);
  ASSERT_TRUE((*resumed)->AddRankingList(l, 4).ok());  // buffered, no step yet
  EXPECT_EQ((*(*resumed)->ranker()->Model())->params(), saved);
  // A fresh trainer's ranker starts elsewhere (the test can tell the two apart).
  auto fresh = Trainer::Create(testing::TinyTrainerOptions(dir_ + "/other"));
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->AddRankingList(l, 4).ok());
  EXPECT_NE((*(*fresh)->ranker()->Model())->params(), saved);
}

}  // namespace
}  // namespace streamrec::training
