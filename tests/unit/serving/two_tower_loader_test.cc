#include "serving/two_tower_loader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "serving/recommendation_service.h"
#include "tests/support/tiny_trainer.h"
#include "serving/ranker_features.h"
#include "training/ranker.h"
#include "training/snapshot.h"
#include "training/snapshot_format.h"
#include "training/trainer.h"

namespace streamrec::serving {
namespace {

namespace fs = std::filesystem;

// Real snapshots written by training/'s Trainer (a small model), loaded by the serving
// loader.
class TwoTowerLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/two_tower_loader_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto trainer = training::Trainer::Create(testing::TinyTrainerOptions(dir_ + "/store"));
    ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
    trainer_ = std::move(trainer).value();
  }
  void TearDown() override {
    trainer_.reset();
    fs::remove_all(dir_);
  }

  // Trains a few steps and writes the next version; returns its manifest.
  training::SnapshotManifest TrainAndSnapshot() {
    for (int i = 0; i < 32; ++i) {
      TrainingExample e;
      e.user_id = "u" + std::to_string(i % 5);
      e.user_key = HashId(e.user_id);
      e.item_id = "i" + std::to_string((i * 3) % 12);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1000000 + i;
      e.history_keys.push_back(HashId("i" + std::to_string((i + 1) % 12)));
      e.history_ts_ms.push_back(e.ts_ms - 1000);
      EXPECT_TRUE(trainer_->AddExample(e).ok());
    }
    auto m = trainer_->WriteSnapshot(2000000);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return *m;
  }

  std::string dir_;
  std::unique_ptr<training::Trainer> trainer_;
};

TEST_F(TwoTowerLoaderTest, LoadsSnapshotAndServesIt) {
  const training::SnapshotManifest m = TrainAndSnapshot();
  TwoTowerSnapshotLoader loader(m.dir, m.version, m.checksum, {}, nullptr);
  auto model = loader.Load();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->version(), m.version);
  EXPECT_EQ(static_cast<int64_t>((*model)->items().size()), m.num_items);
  EXPECT_EQ((*model)->items().dim(), 8);
  auto reference = training::ModelSnapshot::Load(m.dir);
  ASSERT_TRUE(reference.ok());
  const std::vector<HistoryEntry> history = {{HashId("i1"), "i1", 999000}};
  auto u = (*model)->user_encoder().Encode("u1", history);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  auto expected = (*reference)->UserEmbedding(HashId("u1"), {HashId("i1")}, {999000}, 999000);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(*u, *expected);
}

// The W-RNN's time-gap features: serving's user tower (the loader's encoder, given a
// user's window) computes the vector the trainer computes for a training example whose
// history is that window, whatever the clicked event's time; so the features come from
// the window's timestamps on both sides. Fails if either side builds them otherwise (the
// trainer from the example's time, serving from the request's or without timestamps).
TEST(TwoTowerLoaderWrnnTest, ServingEncodesAWindowAsTheTrainerDoes) {
  std::string tmpl = ::testing::TempDir() + "/two_tower_loader_wrnn_test_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  training::TrainerOptions o = testing::TinyTrainerOptions(dir + "/store");
  o.model.history_encoder = training::HistoryEncoder::kWrnn;
  auto trainer = training::Trainer::Create(o);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  // Histories with uneven gaps (seconds to days), so the features are not all alike.
  const int64_t t0 = 1700000000000;
  auto window = [&](int i) {
    std::vector<HistoryEntry> w;
    const int64_t gaps_s[] = {5, 3600, 40, 86400 * 3};
    int64_t ts = t0 + i * 1000;
    for (int h = 0; h < 4; ++h) {
      ts += gaps_s[(h + i) % 4] * 1000;
      const std::string id = "i" + std::to_string((i + 2 * h) % 12);
      w.push_back({HashId(id), id, ts});
    }
    return w;
  };
  auto example = [&](int i, const std::vector<HistoryEntry>& w, int64_t click_after_ms) {
    TrainingExample e;
    e.user_id = "u" + std::to_string(i % 5);
    e.user_key = HashId(e.user_id);
    e.item_id = "i" + std::to_string((i * 5) % 12);
    e.item_key = HashId(e.item_id);
    for (const HistoryEntry& h : w) {
      e.history_keys.push_back(h.item_key);
      e.history_ts_ms.push_back(h.ts_ms);
    }
    e.ts_ms = w.back().ts_ms + click_after_ms;
    return e;
  };
  for (int i = 0; i < 48; ++i) {
    ASSERT_TRUE((*trainer)->AddExample(example(i, window(i), 60000)).ok());
  }
  auto m = (*trainer)->WriteSnapshot(t0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto model = TwoTowerSnapshotLoader(m->dir, m->version, m->checksum, {}, nullptr).Load();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  int differ_by_time = 0;
  for (int i = 0; i < 8; ++i) {
    const std::vector<HistoryEntry> w = window(i);
    auto served = (*model)->user_encoder().Encode("u" + std::to_string(i % 5), w);
    ASSERT_TRUE(served.ok()) << served.status().ToString();
    // The click a second or two days after the window's newest event: the same vector.
    for (int64_t after : {int64_t{1000}, int64_t{2 * 86400000}}) {
      auto trained = (*trainer)->UserVector(example(i, w, after));
      ASSERT_TRUE(trained.ok()) << trained.status().ToString();
      ASSERT_EQ(trained->size(), served->size());
      for (size_t d = 0; d < served->size(); ++d) {
        EXPECT_NEAR((*trained)[d], (*served)[d], 1e-6) << "window " << i << " dim " << d;
      }
    }
    // Not vacuous: the same items at other times give the user another vector.
    std::vector<HistoryEntry> shifted = w;
    for (size_t h = 0; h < shifted.size(); ++h) shifted[h].ts_ms = t0 + static_cast<int64_t>(h);
    auto other = (*model)->user_encoder().Encode("u" + std::to_string(i % 5), shifted);
    ASSERT_TRUE(other.ok());
    if (*other != *served) ++differ_by_time;
  }
  EXPECT_EQ(differ_by_time, 8);
  trainer->reset();
  EXPECT_TRUE(file_system::RemoveAll(dir).ok());
}

// The ranking stage's model travels with the two-tower snapshot and is swapped in with
// it; one that fails to load (or was trained on other features) leaves the version
// served without a ranker (the unranked order), never refused.
TEST_F(TwoTowerLoaderTest, LoadsTheRankerWithTheModelAndFallsBackWithoutIt) {
  const training::SnapshotManifest plain = TrainAndSnapshot();
  auto without = TwoTowerSnapshotLoader(plain.dir, plain.version, plain.checksum, {}, nullptr).Load();
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_EQ((*without)->ranker(), nullptr);

  auto add_lists = [&](int64_t num_features) {
    for (int i = 0; i < 20; ++i) {
      training::RankingList l;
      for (int c = 0; c < 5 * num_features; ++c) l.features.push_back(static_cast<float>((c * 7 + i) % 11) / 11);
      l.positive = static_cast<size_t>(i % 5);
      ASSERT_TRUE(trainer_->AddRankingList(l, num_features).ok());
    }
  };
  add_lists(kRankerFeatures);
  const training::SnapshotManifest ranked = TrainAndSnapshot();
  ASSERT_FALSE(ranked.ranker_checksum.empty());
  auto with = TwoTowerSnapshotLoader(ranked.dir, ranked.version, ranked.checksum, {}, nullptr).Load();
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  ASSERT_NE((*with)->ranker(), nullptr);
  EXPECT_EQ((*with)->ranker()->shape().num_features, kRankerFeatures);

  // A damaged ranker file: the version loads, without its ranker.
  ASSERT_TRUE(training::snapshot_format::WriteFile(ranked.dir + "/" + training::kRankerFile, "x").ok());
  auto damaged = TwoTowerSnapshotLoader(ranked.dir, ranked.version, ranked.checksum, {}, nullptr).Load();
  ASSERT_TRUE(damaged.ok()) << damaged.status().ToString();
  EXPECT_EQ((*damaged)->ranker(), nullptr);
  // A missing one too.
  fs::remove(ranked.dir + "/" + training::kRankerFile);
  auto missing = TwoTowerSnapshotLoader(ranked.dir, ranked.version, ranked.checksum, {}, nullptr).Load();
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ((*missing)->ranker(), nullptr);
}

// A ranker trained on another feature count than serving computes is not used.
TEST_F(TwoTowerLoaderTest, ARankerOfOtherFeaturesIsNotUsed) {
  for (int i = 0; i < 20; ++i) {
    training::RankingList l;
    l.features.assign(3 * 4, 0.5f);
    ASSERT_TRUE(trainer_->AddRankingList(l, 4).ok());
  }
  const training::SnapshotManifest m = TrainAndSnapshot();
  ASSERT_FALSE(m.ranker_checksum.empty());
  auto model = TwoTowerSnapshotLoader(m.dir, m.version, m.checksum, {}, nullptr).Load();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->ranker(), nullptr);
}

// serving.hnsw.background: the loaded version answers (exact scan) before its graph is
// built, then with the graph; swapping the next version in releases the previous one
// whatever its build's state.
TEST_F(TwoTowerLoaderTest, ServesBeforeItsBackgroundGraphIsBuilt) {
  TwoTowerLoaderOptions options;
  options.index.kind = EmbeddingIndexOptions::Kind::kHnsw;
  ASSERT_TRUE(options.index.hnsw_background_build);  // the default
  AspiredVersionsManager<TwoTowerModel> manager(AspiredVersionsManagerOptions{"t_two_tower"});
  std::weak_ptr<const TwoTowerModel> previous;
  for (int round = 0; round < 2; ++round) {
    const training::SnapshotManifest m = TrainAndSnapshot();
    std::vector<AspiredVersion<TwoTowerModel>> aspired;
    aspired.push_back({m.version, std::make_unique<TwoTowerSnapshotLoader>(
                                      m.dir, m.version, m.checksum, options, nullptr)});
    ASSERT_TRUE(manager.SetAspiredVersions(std::move(aspired)).ok());
    auto handle = manager.GetServableHandle();
    ASSERT_TRUE(handle.ok());
    EXPECT_EQ((*handle)->version(), m.version);
    EXPECT_TRUE(previous.expired()) << "the replaced version is freed with its index";
    const TwoTowerModel& model = **handle;
    auto exact = NewEmbeddingIndex(model.shared_items(), {});
    ASSERT_TRUE(exact.ok());
    const size_t k = std::min<size_t>(5, model.items().size());
    ASSERT_GE(k, 2u);
    const float* query = model.items().row(0);
    const auto before = model.index().Search(query, k);
    ASSERT_TRUE(model.index().WaitUntilBuilt().ok());
    EXPECT_STREQ(model.index().active_kind(), "hnsw");
    const auto after = model.index().Search(query, k);
    const auto truth = (*exact)->Search(query, k);
    ASSERT_EQ(before.size(), k);
    ASSERT_EQ(after.size(), k);
    for (size_t i = 0; i < k; ++i) {  // a handful of items: the graph finds the exact top k
      EXPECT_EQ(after[i].row, truth[i].row);
      EXPECT_EQ(before[i].row, truth[i].row);
    }
    previous = handle->servable;
  }
}

TEST_F(TwoTowerLoaderTest, RefusesCorruptAndMismatchedSnapshots) {
  const training::SnapshotManifest m1 = TrainAndSnapshot();
  const training::SnapshotManifest m2 = TrainAndSnapshot();
  AspiredVersionsManager<TwoTowerModel> manager(AspiredVersionsManagerOptions{"t_two_tower"});
  std::vector<AspiredVersion<TwoTowerModel>> v;
  v.push_back({m1.version, std::make_unique<TwoTowerSnapshotLoader>(m1.dir, m1.version,
                                                                     m1.checksum,
                                                                     TwoTowerLoaderOptions(),
                                                                     nullptr)});
  ASSERT_TRUE(manager.SetAspiredVersions(std::move(v)).ok());
  EXPECT_EQ(manager.version(), m1.version);

  // The announcement names a checksum the directory doesn't have.
  v.clear();
  v.push_back({m2.version, std::make_unique<TwoTowerSnapshotLoader>(
                               m2.dir, m2.version, "0000000000000000", TwoTowerLoaderOptions(),
                               nullptr)});
  Status st = manager.SetAspiredVersions(std::move(v));
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_EQ(manager.version(), m1.version);

  // Flipped bytes in the item embeddings: the reader's checksum catches it.
  {
    std::fstream f(m2.dir + "/items.bin", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(-4, std::ios::end);
    f.write("\xff\xff\xff\x7f", 4);
  }
  auto announced = AspiredVersionFromAnnouncement(
      training::ModelAnnouncement::FromManifest(m2).ToJson(), "two_tower", {}, nullptr);
  ASSERT_TRUE(announced.ok()) << announced.status().ToString();
  v.clear();
  v.push_back(std::move(announced).value());
  st = manager.SetAspiredVersions(std::move(v));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(manager.version(), m1.version);

  // Another component's announcement is not ours.
  auto other = training::ModelAnnouncement::FromManifest(m2);
  other.component = "ranker";
  EXPECT_EQ(AspiredVersionFromAnnouncement(other.ToJson(), "two_tower", {}, nullptr).status().code(),
            Status::Code::kNotFound);
}

// A forged announcement cannot make serving open a file outside the model store, by an
// absolute path, by "..", or through a symlink; a snapshot inside it is accepted.
TEST_F(TwoTowerLoaderTest, AnnouncedPathMustLieInTheModelStore) {
  const training::SnapshotManifest m = TrainAndSnapshot();
  TwoTowerLoaderOptions options;
  options.model_store = dir_ + "/store";
  auto inside = AspiredVersionFromAnnouncement(training::ModelAnnouncement::FromManifest(m).ToJson(),
                                               "two_tower", options, nullptr);
  ASSERT_TRUE(inside.ok()) << inside.status().ToString();
  auto via_dots = training::ModelAnnouncement::FromManifest(m);
  via_dots.path = dir_ + "/store/../elsewhere/v1";
  auto outside = training::ModelAnnouncement::FromManifest(m);
  outside.path = "/etc";
  fs::create_directories(dir_ + "/elsewhere");
  fs::create_directory_symlink(dir_ + "/elsewhere", dir_ + "/store/link");
  auto via_link = training::ModelAnnouncement::FromManifest(m);
  via_link.path = dir_ + "/store/link/v1";
  auto the_store = training::ModelAnnouncement::FromManifest(m);
  the_store.path = dir_ + "/store";
  for (const auto& a : {via_dots, outside, via_link, the_store}) {
    auto r = AspiredVersionFromAnnouncement(a.ToJson(), "two_tower", options, nullptr);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << a.path;
    EXPECT_NE(r.status().message().find("outside the model store"), std::string::npos) << r.status().ToString();
  }
}

TEST_F(TwoTowerLoaderTest, ServiceAnswersWithTheModelVersion) {
  TrainAndSnapshot();
  const training::SnapshotManifest m = TrainAndSnapshot();
  RecommendationService service;
  service.history().Record(HashId("u1"), HashId("i1"), "i1", 999000);
  // The store holds versions 1 and 2; the newest is served.
  ASSERT_TRUE(service.models()
                  .SetAspiredVersions(AspiredVersionsInStore(dir_ + "/store", {}, &service.history()))
                  .ok());
  EXPECT_EQ(service.models().version(), m.version);
  RecRequest request;
  request.request_id = "r1";
  request.user_id = "u1";
  request.k = 3;
  auto response = service.Recommend(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->model_version, m.version);
  ASSERT_EQ(response->items.size(), 3u);  // the model knows i0, i3, i6, i9
  for (const ScoredItem& item : response->items) {
    EXPECT_NE(item.item_id, "i1");  // seen
    EXPECT_TRUE(item.sources & kChannelTwoTower) << item.item_id;
  }
}

// Item side features (issue 9 item 4): serving takes the snapshot's item vectors as they
// are, so it scores with the item tower's combined output (id + category + brand), and a
// catalogue item no example named is served with its category's vector.
TEST_F(TwoTowerLoaderTest, ServesTheCombinedVectorsOfItemsWithSideFeatures) {
  training::TrainerOptions o = testing::TinyTrainerOptions(dir_ + "/side-store");
  o.model.category_capacity = 16;
  o.model.brand_capacity = 16;
  auto trainer = training::Trainer::Create(o);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  for (int i = 0; i < 12; ++i) {
    const std::string id = "i" + std::to_string(i);
    (*trainer)->SetItemCatalog(HashId(id), id, HashId("c" + std::to_string(i % 3)), HashId("b"));
  }
  (*trainer)->SetItemCatalog(HashId("new-item"), "new-item", HashId("c0"), 0);
  trainer_ = std::move(trainer).value();
  const training::SnapshotManifest m = TrainAndSnapshot();
  auto snapshot = training::ModelSnapshot::Load(m.dir);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  auto model = TwoTowerSnapshotLoader(m.dir, m.version, m.checksum, {}, nullptr).Load();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ItemEmbeddings& items = (*model)->items();
  ASSERT_EQ(static_cast<int64_t>(items.size()), (*snapshot)->num_items());
  for (const std::string id : {"i0", "i3", "new-item"}) {
    const int64_t row = items.Find(HashId(id));
    const int64_t want = (*snapshot)->ItemIndex(HashId(id));
    ASSERT_GE(row, 0) << id;
    ASSERT_GE(want, 0) << id;
    EXPECT_EQ(items.id(static_cast<size_t>(row)), id);
    const float* expected = (*snapshot)->item_embeddings().data() + want * (*snapshot)->dim();
    EXPECT_TRUE(std::equal(expected, expected + items.dim(), items.row(static_cast<size_t>(row))))
        << id;
  }
  // The index finds the never-trained item by its own vector.
  const float* cold = items.row(static_cast<size_t>(items.Find(HashId("new-item"))));
  auto hits = (*model)->index().Search(cold, 1);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(items.id(hits[0].row), "new-item");
}

// A planted pattern: 8 clusters of 8 items; user u shops in cluster u % 8, each click
// with the user's previous clicks of that cluster as the window.
struct PlantedStream {
  static std::string Item(int cluster, int j) {
    return "c" + std::to_string(cluster) + "-" + std::to_string(j);
  }
  // Examples (`n`) for the trainer and, from the same pattern, events for serving's
  // recent-events sample.
  static std::vector<TrainingExample> Examples(int n, uint64_t seed) {
    std::vector<TrainingExample> out;
    std::vector<std::vector<std::string>> windows(40);
    uint64_t x = seed;
    auto next = [&x] {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      return static_cast<int>((x >> 33) % 1000000);
    };
    for (int i = 0; i < n; ++i) {
      const int u = next() % 40;
      TrainingExample e;
      e.user_id = "u" + std::to_string(u);
      e.user_key = HashId(e.user_id);
      e.item_id = Item(u % 8, next() % 8);
      e.item_key = HashId(e.item_id);
      e.ts_ms = 1000000 + i * 10;
      for (const std::string& h : windows[u]) {
        e.history_keys.push_back(HashId(h));
        e.history_ts_ms.push_back(e.ts_ms - 5);
      }
      windows[u].push_back(e.item_id);
      if (windows[u].size() > 5) windows[u].erase(windows[u].begin());
      out.push_back(e);
    }
    return out;
  }
};

TEST_F(TwoTowerLoaderTest, SwapsInATrainedModelAndRefusesARandomOne) {
  const auto train = PlantedStream::Examples(3000, 1);
  // Two trainers over the same items: one learns (default learning rate), the other's
  // weights stay at their random initialisation (a learning rate of 1e-12).
  auto make = [&](const std::string& store, double lr) {
    training::TrainerOptions o = testing::TinyTrainerOptions(dir_ + store, 100, 32);
    o.learning_rate = lr;
    auto t = training::Trainer::Create(o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    for (const TrainingExample& e : train) EXPECT_TRUE((*t)->AddExample(e).ok());
    auto m = (*t)->WriteSnapshot(2000000);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return *m;
  };
  const training::SnapshotManifest trained = make("/trained", 1e-2);
  const training::SnapshotManifest random = make("/random", 1e-12);

  // Serving saw fresh events of the same pattern, which no model trained on.
  RecommendationService service;
  for (const TrainingExample& e : PlantedStream::Examples(600, 2)) {
    service.history().Record(e.user_key, e.item_key, e.item_id, e.ts_ms);
  }
  ASSERT_GE(service.history().RecentEvents(512).size(), 500u);

  TwoTowerLoaderOptions options;
  options.serving = &service.models();
  SanityScore score;
  auto check = [&](const training::SnapshotManifest& m) {
    TwoTowerSnapshotLoader loader(m.dir, m.version, m.checksum, options, nullptr);
    auto model = loader.Load();
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    auto serving = service.models().GetServableHandle();
    return CheckModelSanity(**model, service.history().RecentEvents(512), options.sanity, &score,
                            serving.ok() ? serving->get() : nullptr);
  };
  Status st = check(random);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition) << st.ToString();
  EXPECT_GE(score.events, 200u);
  EXPECT_LT(score.accuracy, 0.55);
  EXPECT_TRUE(check(trained).ok());
  EXPECT_GT(score.accuracy, 0.8);

  // Through the loader and the registry: the random version is refused while nothing is
  // served (the other channels serve), the trained one is swapped in, and the random one
  // is refused again against it.
  auto aspire = [&](const training::SnapshotManifest& m, int64_t version) {
    std::vector<AspiredVersion<TwoTowerModel>> v;
    v.push_back({version, std::make_unique<TwoTowerSnapshotLoader>(m.dir, m.version, m.checksum,
                                                                    options, &service.history())});
    return service.models().SetAspiredVersions(std::move(v));
  };
  st = aspire(random, 1);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(service.models().version(), 0);
  ASSERT_TRUE(aspire(trained, 1).ok());
  EXPECT_EQ(service.models().version(), 1);
  st = aspire(random, 2);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(service.models().version(), 1);
}

}  // namespace
}  // namespace streamrec::serving
