#include "training/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <unordered_map>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "training/snapshot.h"

namespace streamrec::training {
namespace {

namespace fs = streamrec::file_system;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/trainer_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  std::string dir_;
};

TrainerOptions TinyOptions() {
  TrainerOptions o;
  o.model.embedding_dim = 16;
  o.model.hidden_dim = 32;
  o.model.output_dim = 16;
  o.model.user_capacity = 100;
  o.model.item_capacity = 100;
  o.model.temperature = 0.1;
  o.batch_size = 32;
  o.learning_rate = 0.01;
  o.device = "cpu";
  return o;
}

TrainingExample Make(int user, int item, int64_t ts, const std::vector<int>& history) {
  TrainingExample e;
  e.user_id = "u" + std::to_string(user);
  e.user_key = HashId(e.user_id);
  e.item_id = "i" + std::to_string(item);
  e.item_key = HashId(e.item_id);
  e.ts_ms = ts;
  for (size_t h = 0; h < history.size(); ++h) {
    e.history_keys.push_back(HashId("i" + std::to_string(history[h])));
    e.history_ts_ms.push_back(ts - static_cast<int64_t>(history.size() - h));
  }
  return e;
}

// Four user clusters, each clicking its own 5 items; returns mean loss of the first and
// last 10 steps.
std::pair<double, double> TrainClustered(const TrainerOptions& o) {
  auto trainer = Trainer::Create(o);
  EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::mt19937 rng(7);
  std::unordered_map<int, std::vector<int>> hist;
  std::vector<double> losses;
  int64_t ts = 1000;
  while ((*trainer)->step() < 60) {
    const int user = static_cast<int>(rng() % 40);
    const int item = (user % 4) * 5 + static_cast<int>(rng() % 5);
    auto& h = hist[user];
    const int64_t before = (*trainer)->step();
    EXPECT_TRUE((*trainer)->AddExample(Make(user, item, ts++, h)).ok());
    if ((*trainer)->step() != before) losses.push_back((*trainer)->last_loss());
    h.push_back(item);
    if (h.size() > 5) h.erase(h.begin());
  }
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    first += losses[i] / 10;
    last += losses[losses.size() - 1 - i] / 10;
  }
  return {first, last};
}

TEST_F(TrainerTest, LossDecreasesMeanPooling) {
  auto [first, last] = TrainClustered(TinyOptions());
  // log(32) = 3.47 is chance; structured data must be learned well below it.
  EXPECT_GT(first, 2.5);
  EXPECT_LT(last, first - 1.0);
}

// The recurrent encoders (a GRU; the W-RNN, a GRU with time-gap inputs) learn too.
TEST_F(TrainerTest, LossDecreasesWithTheRecurrentEncoders) {
  for (const HistoryEncoder encoder : {HistoryEncoder::kGru, HistoryEncoder::kWrnn}) {
    TrainerOptions o = TinyOptions();
    o.model.history_encoder = encoder;
    o.optimizer = "adagrad";
    o.learning_rate = 0.05;
    auto [first, last] = TrainClustered(o);
    EXPECT_LT(last, first - 1.0) << "encoder " << static_cast<int>(encoder);
  }
}

TEST_F(TrainerTest, LossDecreasesWithSparseEmbeddings) {
  TrainerOptions o = TinyOptions();
  o.embedding_updates = "sparse";
  o.profile_phases = true;
  auto [first, last] = TrainClustered(o);
  EXPECT_GT(first, 2.5);
  EXPECT_LT(last, first - 1.0);
  o.optimizer = "adagrad";
  o.learning_rate = 0.1;  // row-wise: a rarely seen row takes few, full-size steps
  auto [first_ag, last_ag] = TrainClustered(o);
  EXPECT_LT(last_ag, first_ag - 1.0);
}

TEST_F(TrainerTest, ProfilesThePhasesOfEachStep) {
  TrainerOptions o = TinyOptions();
  o.profile_phases = true;
  auto trainer = Trainer::Create(o);
  ASSERT_TRUE(trainer.ok());
  for (int i = 0; i < 3 * 32; ++i) {
    ASSERT_TRUE((*trainer)->AddExample(Make(i % 10, i % 20, 1000 + i, {1, 2, 3})).ok());
  }
  const TrainerPhaseSeconds& p = (*trainer)->phase_seconds();
  EXPECT_EQ(p.steps, 3);
  EXPECT_GT(p.forward, 0);
  EXPECT_GT(p.backward, 0);
  EXPECT_GT(p.optimizer, 0);
  EXPECT_GT(p.lookup + p.assemble + p.transfer, 0);
  // Off by default: nothing is timed.
  auto plain = Trainer::Create(TinyOptions());
  ASSERT_TRUE(plain.ok());
  for (int i = 0; i < 32; ++i) {
    ASSERT_TRUE((*plain)->AddExample(Make(i % 10, i % 20, 1000 + i, {1, 2})).ok());
  }
  EXPECT_EQ((*plain)->phase_seconds().steps, 0);
  EXPECT_EQ((*plain)->phase_seconds().forward, 0);
}

// Mean loss of the fresh batches 9-12 when the clustered stream of TrainClustered is cut
// at 12 batches (384 events).
double LossAfterTwelveBatches(const TrainerOptions& o, int64_t* steps) {
  auto trainer = Trainer::Create(o);
  EXPECT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::mt19937 rng(7);
  std::unordered_map<int, std::vector<int>> hist;
  double late = 0;
  for (int i = 0; i < 12 * 32; ++i) {
    const int user = static_cast<int>(rng() % 40);
    const int item = (user % 4) * 5 + static_cast<int>(rng() % 5);
    auto& h = hist[user];
    EXPECT_TRUE((*trainer)->AddExample(Make(user, item, 1000 + i, h)).ok());
    if ((i + 1) % 32 == 0 && i >= 8 * 32) late += (*trainer)->last_loss() / 4;
    h.push_back(item);
    if (h.size() > 5) h.erase(h.begin());
  }
  *steps = (*trainer)->step();
  EXPECT_EQ((*trainer)->examples(), 12 * 32);  // replayed examples are not counted again
  return late;
}

TEST_F(TrainerTest, ReplayTrainsMorePerEventOnPastExamples) {
  TrainerOptions o = TinyOptions();
  int64_t plain_steps = 0, replay_steps = 0;
  const double plain = LossAfterTwelveBatches(o, &plain_steps);
  o.replay_steps = 3;
  o.replay_capacity = 8 * 32;
  const double replayed = LossAfterTwelveBatches(o, &replay_steps);
  EXPECT_EQ(plain_steps, 12);
  // Replay starts once the ring holds two batches: 12 fresh steps + 3 x 11 replayed.
  EXPECT_EQ(replay_steps, 12 + 3 * 11);
  // The same 384 events teach the model more: the loss on batches it has not seen yet is
  // lower.
  EXPECT_LT(replayed, plain - 0.3) << "plain " << plain << ", replay " << replayed;
  o.replay_capacity = 16;  // below batch_size
  EXPECT_EQ(Trainer::Create(o).status().code(), Status::Code::kInvalidArgument);
  o.replay_capacity = 64;
  o.replay_steps = -1;
  EXPECT_EQ(Trainer::Create(o).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(TrainerTest, RejectsInvalidOptions) {
  TrainerOptions o = TinyOptions();
  o.optimizer = "sgd";
  EXPECT_EQ(Trainer::Create(o).status().code(), Status::Code::kInvalidArgument);
  o = TinyOptions();
  o.batch_size = 1;
  EXPECT_FALSE(Trainer::Create(o).ok());
  o = TinyOptions();
  o.model.temperature = 0;
  EXPECT_FALSE(Trainer::Create(o).ok());
}

TEST_F(TrainerTest, EvictsLeastRecentItemsAtCapacity) {
  TrainerOptions o = TinyOptions();
  o.model.item_capacity = 5;
  o.batch_size = 4;
  auto trainer = Trainer::Create(o);
  ASSERT_TRUE(trainer.ok());
  for (int i = 0; i < 12; ++i) ASSERT_TRUE((*trainer)->AddExample(Make(i % 3, i, i, {})).ok());
  EXPECT_EQ((*trainer)->known_items(), 5);
  auto m = (*trainer)->WriteSnapshotTo(dir_ + "/evict", 0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto snap = ModelSnapshot::Load(dir_ + "/evict");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  std::vector<std::string> ids = (*snap)->item_ids();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"i10", "i11", "i7", "i8", "i9"}));
}

// The streaming sampling-probability estimator of Yi et al. (DESIGN §4) with one hash
// function and no collisions, as the item stage computes it.
class GapEstimator {
 public:
  double Update(uint64_t key, int64_t step) {
    auto& [a, b] = state_[key];
    b = (1 - kAlpha) * b + kAlpha * static_cast<double>(step - a);
    a = step;
    return b > 0 ? 1.0 / b : 1.0;
  }

 private:
  static constexpr double kAlpha = 0.05;
  std::unordered_map<uint64_t, std::pair<int64_t, double>> state_;
};

// Users have no preference: each click is item 0 with probability 1/2, otherwise one of
// 19 others uniformly. The true conditional is log p(y|x) = log p(y): with the logQ
// correction the model learns it (item 0 scores ~log(0.5 / 0.026) = 2.9 above the
// rest); without it the in-batch softmax learns log p(y|x) - log p(y) = 0 for all items.
double PopularityGap(bool logq, bool mask, const std::string& dir) {
  TrainerOptions o = TinyOptions();
  o.model.hidden_dim = 0;
  o.model.embedding_dim = 8;
  o.model.output_dim = 8;
  o.model.temperature = 0.2;
  o.batch_size = 64;
  o.loss.logq_correction = logq;
  o.loss.mask_accidental_hits = mask;
  auto trainer = Trainer::Create(o);
  EXPECT_TRUE(trainer.ok());
  std::mt19937 rng(3);
  GapEstimator estimator;
  int64_t step = 0;
  for (int n = 0; n < 12000; ++n) {
    const int user = static_cast<int>(rng() % 30);
    const int item = (rng() % 2 == 0) ? 0 : 1 + static_cast<int>(rng() % 19);
    TrainingExample e = Make(user, item, n, {});
    ItemStats stats;
    stats.item_key = e.item_key;
    stats.item_id = e.item_id;
    stats.sampling_prob = estimator.Update(e.item_key, ++step);
    (*trainer)->UpdateItemStats(stats);
    EXPECT_TRUE((*trainer)->AddExample(e).ok());
  }
  auto m = (*trainer)->WriteSnapshotTo(dir, 0);
  EXPECT_TRUE(m.ok());
  auto snap = ModelSnapshot::Load(dir);
  EXPECT_TRUE(snap.ok());
  const int64_t popular = (*snap)->ItemIndex(HashId("i0"));
  double gap = 0;
  for (int user = 0; user < 30; ++user) {
    auto u = (*snap)->UserEmbedding(HashId("u" + std::to_string(user)), {}, {}, 0);
    auto s = (*snap)->ScoreAllItems(*u);
    double rest = 0;
    for (size_t j = 0; j < s.size(); ++j) {
      if (static_cast<int64_t>(j) != popular) rest += s[j] / (s.size() - 1);
    }
    gap += (s[popular] - rest) / 30;
  }
  return gap;
}

TEST_F(TrainerTest, EstimatorDrivenLogQCorrectionRecoversPopularity) {
  const double log_prior_ratio = std::log(0.5 / (0.5 / 19));  // = log 19 = 2.944
  // Without accidental-hit masking the theory holds as stated.
  const double with = PopularityGap(true, false, dir_ + "/with");
  const double without = PopularityGap(false, false, dir_ + "/without");
  EXPECT_NEAR(with, log_prior_ratio, 0.4);
  EXPECT_NEAR(without, 0.0, 0.3);
  // Masking removes the positive's duplicates from its own denominator, which favours
  // items that repeat within a batch (here item 0 fills half of it) by the same amount
  // with or without the correction; the correction still adds the log prior ratio.
  const double with_masked = PopularityGap(true, true, dir_ + "/with_masked");
  const double without_masked = PopularityGap(false, true, dir_ + "/without_masked");
  EXPECT_GT(without_masked, 0.5);
  EXPECT_NEAR(with_masked - without_masked, log_prior_ratio, 0.4);
}

}  // namespace
}  // namespace streamrec::training

namespace streamrec::training {
namespace {

// lambda.model warm: a trainer that warm-starts from another's snapshot (the batch
// model) holds exactly its parameters and id tables, keeps its own counters, and trains
// on from there; a snapshot of another shape is refused and changes nothing.
TEST_F(TrainerTest, WarmStartTakesTheSnapshotsParametersAndTrainsOn) {
  TrainerOptions o = TinyOptions();
  o.seed = 1;
  auto batch = Trainer::Create(o);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  for (int n = 0; n < 200; ++n) ASSERT_TRUE((*batch)->AddExample(Make(n % 20, n % 7, 1000 + n, {n % 5})).ok());
  auto batch_model = (*batch)->WriteSnapshotTo(dir_ + "/batch-model", 0);
  ASSERT_TRUE(batch_model.ok()) << batch_model.status().ToString();

  o.seed = 2;  // another initialisation
  auto online = Trainer::Create(o);
  ASSERT_TRUE(online.ok());
  for (int n = 0; n < 64; ++n) ASSERT_TRUE((*online)->AddExample(Make(30 + n % 10, 50 + n % 9, 5000 + n, {})).ok());
  const int64_t step = (*online)->step();
  ASSERT_GT(step, 0);
  auto before = (*online)->WriteSnapshotTo(dir_ + "/before", 0);
  ASSERT_TRUE(before.ok());
  ASSERT_NE(before->params_checksum, batch_model->params_checksum);

  ASSERT_TRUE((*online)->WarmStartFrom(dir_ + "/batch-model").ok());
  auto after = (*online)->WriteSnapshotTo(dir_ + "/after", 0);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->params_checksum, batch_model->params_checksum);
  EXPECT_EQ((*online)->step(), step);  // its own counters
  // The batch model's id tables (item names are merged, so the ids file itself differs).
  EXPECT_EQ((*online)->known_items(), (*batch)->known_items());
  EXPECT_EQ((*online)->known_users(), (*batch)->known_users());

  // Training goes on from the batch model's parameters.
  for (int n = 0; n < 64; ++n) ASSERT_TRUE((*online)->AddExample(Make(n % 20, n % 7, 9000 + n, {})).ok());
  EXPECT_GT((*online)->step(), step);
  auto trained = (*online)->WriteSnapshotTo(dir_ + "/trained", 0);
  ASSERT_TRUE(trained.ok());
  EXPECT_NE(trained->params_checksum, batch_model->params_checksum);

  // Another shape: refused, parameters unchanged.
  TrainerOptions wide = TinyOptions();
  wide.model.embedding_dim = 24;
  auto other = Trainer::Create(wide);
  ASSERT_TRUE(other.ok());
  auto other_before = (*other)->WriteSnapshotTo(dir_ + "/other-before", 0);
  ASSERT_TRUE(other_before.ok());
  Status refused = (*other)->WarmStartFrom(dir_ + "/batch-model");
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  auto other_after = (*other)->WriteSnapshotTo(dir_ + "/other-after", 0);
  ASSERT_TRUE(other_after.ok());
  EXPECT_EQ(other_after->params_checksum, other_before->params_checksum);
}

}  // namespace
}  // namespace streamrec::training
