#include "training/snapshot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "training/snapshot_format.h"
#include "training/trainer.h"

namespace streamrec::training {
namespace {

namespace fs = streamrec::file_system;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/snapshot_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }

  TrainerOptions SmallOptions() {
    TrainerOptions o;
    o.model.embedding_dim = 8;
    o.model.hidden_dim = 16;
    o.model.output_dim = 8;
    o.model.user_capacity = 50;
    o.model.item_capacity = 50;
    o.batch_size = 8;
    o.model_dir = dir_ + "/store";
    o.device = "cpu";
    return o;
  }

  static TrainingExample Example(int user, int item, int64_t ts) {
    TrainingExample e;
    e.user_id = "u" + std::to_string(user);
    e.user_key = HashId(e.user_id);
    e.item_id = "i" + std::to_string(item);
    e.item_key = HashId(e.item_id);
    e.ts_ms = ts;
    for (int h = 1; h <= 3; ++h) {
      e.history_keys.push_back(HashId("i" + std::to_string((item + h) % 20)));
      e.history_ts_ms.push_back(ts - h * 1000);
    }
    return e;
  }

  void Feed(Trainer* t, int n, int64_t t0 = 1000000) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(t->AddExample(Example(i % 7, (i * 3) % 20, t0 + i)).ok());
    }
  }

  std::string dir_;
};

TEST_F(SnapshotTest, WriteLoadAndScore) {
  auto trainer = Trainer::Create(SmallOptions());
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  Feed(trainer->get(), 40);
  EXPECT_EQ((*trainer)->step(), 5);
  auto m = (*trainer)->WriteSnapshot(123);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version, 1);
  EXPECT_EQ(m->step, 5);
  EXPECT_EQ(m->examples, 40);
  EXPECT_EQ(m->watermark_ms, 1000039);
  EXPECT_EQ(m->num_items, 20);
  EXPECT_EQ(m->num_users, 7);
  EXPECT_EQ(m->dir, SnapshotDirName(dir_ + "/store", 1));
  EXPECT_EQ(*LatestSnapshotDir(dir_ + "/store"), m->dir);

  auto snap = ModelSnapshot::Load(m->dir);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  const ModelSnapshot& s = **snap;
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.num_items(), 20);
  EXPECT_EQ(s.dim(), 8);
  ASSERT_EQ(s.item_embeddings().size(), 20u * 8);
  for (int64_t i = 0; i < s.num_items(); ++i) {
    double norm = 0;
    for (int j = 0; j < 8; ++j) norm += std::pow(s.item_embeddings()[i * 8 + j], 2);
    EXPECT_NEAR(norm, 1.0, 1e-5);
    EXPECT_EQ(s.ItemIndex(s.item_keys()[i]), i);
    EXPECT_EQ(HashId(s.item_ids()[i]), s.item_keys()[i]);
  }
  auto u = s.UserEmbedding(HashId("u1"), {HashId("i3"), HashId("i4")}, {}, 0);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  ASSERT_EQ(u->size(), 8u);
  double norm = 0;
  for (float x : *u) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // An unknown user with no history still gets a finite vector.
  auto cold = s.UserEmbedding(HashId("nobody"), {}, {}, 0);
  ASSERT_TRUE(cold.ok());
  auto scores = s.ScoreAllItems(*u);
  ASSERT_EQ(scores.size(), 20u);
  double dot = 0;
  for (int j = 0; j < 8; ++j) dot += s.item_embeddings()[j] * (*u)[j];
  // Scores are logits at the trainer's τ, which the manifest carries.
  const double tau = SmallOptions().model.temperature;
  EXPECT_EQ(s.manifest().model.temperature, tau);
  EXPECT_NEAR(scores[0], dot / tau, 1e-4);
  EXPECT_FALSE(s.UserEmbedding(1, {1, 2}, {5}, 0).ok());
}

TEST_F(SnapshotTest, GruUserTowerRoundTrip) {
  TrainerOptions o = SmallOptions();
  o.model.history_encoder = HistoryEncoder::kGru;
  o.model.history_window_s = 2;  // only history entries at most 2 s older than "now"
  auto trainer = Trainer::Create(o);
  ASSERT_TRUE(trainer.ok());
  Feed(trainer->get(), 32);
  auto m = (*trainer)->WriteSnapshotTo(dir_ + "/gru", 0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto snap = ModelSnapshot::Load(dir_ + "/gru");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ((*snap)->manifest().model.history_encoder, HistoryEncoder::kGru);
  const uint64_t user = HashId("u2");
  const std::vector<uint64_t> hist = {HashId("i1"), HashId("i2"), HashId("i5")};
  auto a = (*snap)->UserEmbedding(user, hist, {1000, 9000, 10000}, 10000);
  auto b = (*snap)->UserEmbedding(user, {HashId("i2"), HashId("i5")}, {9000, 10000}, 10000);
  auto c = (*snap)->UserEmbedding(user, hist, {8000, 9000, 10000}, 10000);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  double norm = 0;
  for (float x : *a) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  // The 2 s window drops the entry at t=1000 but keeps the one at t=8000.
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

// The W-RNN (a GRU with time-gap features) round-trips by its manifest's name; its
// snapshot is refused by a trainer of another encoder, and a manifest naming an encoder
// this binary does not know (what a binary from before the W-RNN sees) is refused by name.
TEST_F(SnapshotTest, WrnnUserTowerRoundTripAndOtherEncodersRefuseIt) {
  TrainerOptions o = SmallOptions();
  o.model.history_encoder = HistoryEncoder::kWrnn;
  auto trainer = Trainer::Create(o);
  ASSERT_TRUE(trainer.ok());
  Feed(trainer->get(), 32);
  auto m = (*trainer)->WriteSnapshotTo(dir_ + "/wrnn", 0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto snap = ModelSnapshot::Load(dir_ + "/wrnn");
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ((*snap)->manifest().model.history_encoder, HistoryEncoder::kWrnn);
  const uint64_t user = HashId("u2");
  const std::vector<uint64_t> hist = {HashId("i1"), HashId("i2"), HashId("i5")};
  auto close = (*snap)->UserEmbedding(user, hist, {8000, 9000, 10000}, 10000);
  auto apart = (*snap)->UserEmbedding(user, hist, {10000, 3600000, 7200000}, 7200000);
  ASSERT_TRUE(close.ok() && apart.ok());
  double norm = 0;
  for (float x : *close) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_NE(*close, *apart);  // the same items, other gaps

  TrainerOptions gru = SmallOptions();
  gru.model.history_encoder = HistoryEncoder::kGru;
  gru.model_dir = dir_ + "/gru-store";
  auto other = Trainer::Create(gru);
  ASSERT_TRUE(other.ok());
  const Status refused = (*other)->WarmStartFrom(dir_ + "/wrnn");
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  // It says which setting resumes the snapshot.
  EXPECT_NE(refused.ToString().find("set trainer.history_encoder=wrnn"), std::string::npos)
      << refused.ToString();

  const std::string manifest = dir_ + "/wrnn/manifest.json";
  std::string text;
  {
    std::ifstream in(manifest);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t at = text.find("\"wrnn\"");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 6, "\"lstm\"");
  {
    std::ofstream out(manifest, std::ios::trunc);
    out << text;
  }
  auto unknown = ModelSnapshot::Load(dir_ + "/wrnn");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().ToString().find("unknown history encoder lstm"), std::string::npos)
      << unknown.status().ToString();
}

TEST_F(SnapshotTest, RejectsCorruptedFiles) {
  auto trainer = Trainer::Create(SmallOptions());
  ASSERT_TRUE(trainer.ok());
  Feed(trainer->get(), 16);
  auto m = (*trainer)->WriteSnapshot(1);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  {
    std::fstream f(m->dir + "/params.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  auto snap = ModelSnapshot::Load(m->dir);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), Status::Code::kCorruption);
  EXPECT_FALSE(ModelSnapshot::Load(dir_ + "/nothing-here").ok());
}

TEST_F(SnapshotTest, ItemMatrixRejectsNaNAndShapeMismatch) {
  snapshot_format::ItemMatrix m;
  m.keys = {1, 2};
  m.ids = {"a", "b"};
  m.dim = 2;
  m.embeddings = {1, 0, 0, 1};
  auto ok = snapshot_format::DecodeItems(snapshot_format::EncodeItems(m));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->embeddings, m.embeddings);
  m.embeddings[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(snapshot_format::DecodeItems(snapshot_format::EncodeItems(m)).status().code(),
            Status::Code::kCorruption);
  m.embeddings.pop_back();
  EXPECT_FALSE(snapshot_format::DecodeItems(snapshot_format::EncodeItems(m)).ok());
}

// A trainer resumed from a snapshot continues exactly as the one that wrote it, in sparse
// mode too (the embedding tables' optimizer state is in optimizer.pt); a snapshot of the
// other mode resumes its parameters with fresh optimizer state.
TEST_F(SnapshotTest, SparseModeResumesItsOptimizerState) {
  TrainerOptions o = SmallOptions();
  o.embedding_updates = "sparse";
  o.keep_snapshots = 0;
  auto writer = Trainer::Create(o);
  ASSERT_TRUE(writer.ok());
  Feed(writer->get(), 40);  // 5 steps; every user and item of Feed is known from here on
  auto m = (*writer)->WriteSnapshot(0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto resumed = Trainer::Create(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)->step(), (*writer)->step());
  // No fresh rows below, so no random draws: both must take identical steps.
  Feed(writer->get(), 16, 2000000);
  Feed(resumed->get(), 16, 2000000);
  EXPECT_NEAR((*resumed)->last_loss(), (*writer)->last_loss(), 1e-6);

  // Switching modes keeps the parameters and starts the optimizer afresh (no error).
  TrainerOptions dense = o;
  dense.embedding_updates = "dense";
  auto switched = Trainer::Create(dense);
  ASSERT_TRUE(switched.ok()) << switched.status().ToString();
  EXPECT_EQ((*switched)->step(), (*writer)->step() - 2);
  Feed(switched->get(), 16, 2000000);
  EXPECT_TRUE(std::isfinite((*switched)->last_loss()));
}

TEST_F(SnapshotTest, ResumesFromLatestAndKeepsRetention) {
  TrainerOptions o = SmallOptions();
  o.keep_snapshots = 2;
  o.snapshot_every_steps = 2;
  o.snapshot_every_seconds = 0;
  std::vector<float> items_v3;
  {
    auto trainer = Trainer::Create(o);
    ASSERT_TRUE(trainer.ok());
    int written = 0;
    for (int round = 0; round < 3; ++round) {
      Feed(trainer->get(), 16, 1000 * (round + 1));
      auto m = (*trainer)->MaybeSnapshot(0);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      ASSERT_TRUE(m->has_value());
      EXPECT_EQ((*m)->version, round + 1);
      ++written;
      // Not due again without new steps.
      auto none = (*trainer)->MaybeSnapshot(0);
      ASSERT_TRUE(none.ok());
      EXPECT_FALSE(none->has_value());
    }
    EXPECT_EQ(written, 3);
    EXPECT_EQ(ListSnapshotVersions(o.model_dir), (std::vector<int64_t>{2, 3}));
    // Retention removed v1 whole, and no temporary directory is left behind.
    auto entries = fs::ListDirectory(o.model_dir);
    ASSERT_TRUE(entries.ok());
    EXPECT_EQ(*entries, (std::vector<std::string>{"v0000000002", "v0000000003"}));
    auto snap = ModelSnapshot::Load(*LatestSnapshotDir(o.model_dir));
    ASSERT_TRUE(snap.ok());
    items_v3 = (*snap)->item_embeddings();
  }
  auto resumed = Trainer::Create(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)->version(), 3);
  EXPECT_EQ((*resumed)->step(), 6);
  EXPECT_EQ((*resumed)->examples(), 48);
  EXPECT_EQ((*resumed)->known_items(), 16);  // (i * 3) % 20 for i < 16
  // A crashed attempt's leftovers under the next temporary name are cleared first.
  const std::string stale = fs::JoinPath(o.model_dir, ".tmp-v0000000004/sub");
  ASSERT_TRUE(fs::CreateDirectories(stale).ok());
  std::ofstream(fs::JoinPath(stale, "junk")) << "x";
  // A snapshot right after resuming holds the same item embeddings.
  auto m4 = (*resumed)->WriteSnapshot(0);
  ASSERT_TRUE(m4.ok()) << m4.status().ToString();
  EXPECT_EQ(m4->version, 4);
  auto snap4 = ModelSnapshot::Load(m4->dir);
  ASSERT_TRUE(snap4.ok());
  EXPECT_EQ((*snap4)->item_embeddings(), items_v3);
  EXPECT_FALSE(fs::Exists(fs::JoinPath(m4->dir, "sub")));
  auto after = fs::ListDirectory(o.model_dir);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, (std::vector<std::string>{"v0000000003", "v0000000004"}));
  // Training continues from there.
  Feed(resumed->get(), 8);
  EXPECT_EQ((*resumed)->step(), 7);

  // A different model shape refuses to resume from this store.
  TrainerOptions other = o;
  other.model.output_dim = 4;
  auto refused = Trainer::Create(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace streamrec::training
