// The item tower's side features (issue 9 item 4): category and brand embeddings added to
// the id embedding of items the catalogue describes (training/two_tower.h,
// Trainer::SetItemCatalog); and the user tower's W-RNN history encoder (a GRU over the
// window with time-gap features, HistoryTimeFeatures).

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "training/snapshot.h"
#include "training/snapshot_format.h"
#include "training/trainer.h"
#include "training/two_tower.h"

namespace streamrec::training {
namespace {

namespace fs = streamrec::file_system;

class ItemSideFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/item_side_features_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  std::string dir_;
};

TrainerOptions Tiny(int64_t side_buckets) {
  TrainerOptions o;
  o.model.embedding_dim = 16;
  o.model.hidden_dim = 32;
  o.model.output_dim = 16;
  o.model.user_capacity = 200;
  o.model.item_capacity = 200;
  o.model.category_capacity = side_buckets;
  o.model.brand_capacity = side_buckets;
  o.model.temperature = 0.1;
  o.batch_size = 32;
  o.learning_rate = 0.01;
  o.device = "cpu";
  o.keep_snapshots = 0;
  o.seed = 5;
  return o;
}

std::string Item(int i) { return "i" + std::to_string(i); }
std::string Category(int c) { return "cat" + std::to_string(c); }

// Four user clusters; cluster c clicks items 5c..5c+4 (category c); `steps` steps.
void TrainClusters(Trainer* t, int64_t steps) {
  std::mt19937 rng(11);
  std::vector<std::vector<int>> hist(40);
  int64_t ts = 1000;
  while (t->step() < steps) {
    const int user = static_cast<int>(rng() % 40);
    const int item = (user % 4) * 5 + static_cast<int>(rng() % 5);
    TrainingExample e;
    e.user_id = "u" + std::to_string(user);
    e.user_key = HashId(e.user_id);
    e.item_id = Item(item);
    e.item_key = HashId(e.item_id);
    e.ts_ms = ts++;
    for (int h : hist[user]) {
      e.history_keys.push_back(HashId(Item(h)));
      e.history_ts_ms.push_back(e.ts_ms - 1);
    }
    ASSERT_TRUE(t->AddExample(e).ok());
    hist[user].push_back(item);
    if (hist[user].size() > 5) hist[user].erase(hist[user].begin());
  }
}

// Every item's category (item i: category i / 5) and a brand per category, plus
// `cold`: items in the catalogue that no example names.
void FeedCatalogue(Trainer* t, const std::vector<std::pair<std::string, int>>& cold = {}) {
  for (int i = 0; i < 20; ++i) {
    t->SetItemCatalog(HashId(Item(i)), Item(i), HashId(Category(i / 5)),
                      HashId("brand" + std::to_string(i / 5)));
  }
  for (const auto& [id, c] : cold) {
    t->SetItemCatalog(HashId(id), id, HashId(Category(c)), HashId("brand" + std::to_string(c)));
  }
}

std::shared_ptr<const ModelSnapshot> Snapshot(Trainer* t, const std::string& dir) {
  auto m = t->WriteSnapshotTo(dir, 5000);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  auto s = ModelSnapshot::Load(dir);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : nullptr;
}

std::vector<float> Row(const ModelSnapshot& s, const std::string& id) {
  const int64_t r = s.ItemIndex(HashId(id));
  EXPECT_GE(r, 0) << id;
  if (r < 0) return {};
  const auto& e = s.item_embeddings();
  return std::vector<float>(e.begin() + r * s.dim(), e.begin() + (r + 1) * s.dim());
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// The model: an item without side rows gets exactly the id-only output; one with them
// another vector; an item row of 0 with side rows is its category and brand alone.
TEST_F(ItemSideFeaturesTest, TheItemTowerChangesOnlyItemsWithSideRows) {
  torch::manual_seed(3);
  TwoTowerOptions o = Tiny(8).model;
  TwoTowerModel model(o);
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor items = torch::tensor({1, 2, 3, 0}, torch::kInt64);
  const torch::Tensor cats = torch::tensor({0, 4, 0, 4}, torch::kInt64);
  const torch::Tensor brands = torch::tensor({0, 0, 5, 5}, torch::kInt64);
  const torch::Tensor plain = model->ItemTower(items);
  const torch::Tensor side = model->ItemTower(items, cats, brands);
  EXPECT_TRUE(torch::equal(side[0], plain[0]));  // no side rows: bit-for-bit the same
  EXPECT_FALSE(torch::allclose(side[1], plain[1]));  // category
  EXPECT_FALSE(torch::allclose(side[2], plain[2]));  // brand
  // Row 0 with a category and a brand: the same as any id row would give with a zero id
  // embedding, i.e. independent of what row 0 of the id table holds.
  const torch::Tensor cold = model->ItemTower(torch::tensor({0}, torch::kInt64),
                                              torch::tensor({4}, torch::kInt64),
                                              torch::tensor({5}, torch::kInt64));
  // Equal up to rounding: a batch of one and a batch of four may take different BLAS
  // kernels (PyTorch 2.11's CPU build does; Debian's 1.13 gives the same bits).
  EXPECT_TRUE(torch::allclose(cold[0], side[3], /*rtol=*/1e-5, /*atol=*/1e-6));
  EXPECT_EQ(SideRow(0, 8), 0);
  EXPECT_EQ(SideRow(17, 0), 0);
  EXPECT_EQ(SideRow(17, 8), 2);
}

// Without any catalogue entry a trainer with side tables trains and exports exactly what
// one without them does (same seed): the side tables are drawn after every other
// parameter and left out of the steps.
TEST_F(ItemSideFeaturesTest, WithoutACatalogueTheModelIsUnchanged) {
  // One after the other: the trainers draw new rows from torch's global generator, which
  // Create() seeds.
  auto train = [&](int64_t buckets, const std::string& dir) {
    auto t = Trainer::Create(Tiny(buckets));
    EXPECT_TRUE(t.ok());
    if (!t.ok()) return std::shared_ptr<const ModelSnapshot>();
    TrainClusters(t->get(), 20);
    return Snapshot(t->get(), dir);
  };
  auto a = train(64, dir_ + "/with");
  auto b = train(0, dir_ + "/without");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->item_ids(), b->item_ids());
  EXPECT_EQ(a->item_embeddings(), b->item_embeddings());
  auto ua = a->UserEmbedding(HashId("u1"), {HashId(Item(5))}, {999}, 1000);
  auto ub = b->UserEmbedding(HashId("u1"), {HashId(Item(5))}, {999}, 1000);
  ASSERT_TRUE(ua.ok() && ub.ok());
  EXPECT_EQ(*ua, *ub);
}

// The point on e-commerce data: an item no example names, whose category is known, is
// exported, and its vector lies near its category's items (above the other categories').
// Without side features it is not exported at all.
TEST_F(ItemSideFeaturesTest, AColdItemOfAKnownCategoryLiesNearItsCategory) {
  auto t = Trainer::Create(Tiny(64));
  ASSERT_TRUE(t.ok());
  FeedCatalogue(t->get(), {{"cold0", 0}, {"cold2", 2}});
  // A category without the item's id string (as the trainer stage's `items` table gives
  // it so far): kept, but not exported while the item is cold (no id to serve it by).
  (*t)->SetItemCategory(HashId("nameless"), HashId(Category(1)));
  EXPECT_EQ((*t)->catalog_items(), 23);
  TrainClusters(t->get(), 60);
  auto s = Snapshot(t->get(), dir_ + "/side");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->num_items(), 22);
  EXPECT_EQ(s->ItemIndex(HashId("nameless")), -1);
  for (const auto& [cold, own] : std::vector<std::pair<std::string, int>>{{"cold0", 0}, {"cold2", 2}}) {
    const std::vector<float> v = Row(*s, cold);
    ASSERT_FALSE(v.empty());
    std::vector<double> mean_cos(4, 0.0);
    for (int i = 0; i < 20; ++i) mean_cos[i / 5] += Cosine(v, Row(*s, Item(i))) / 5;
    for (int c = 0; c < 4; ++c) {
      if (c == own) continue;
      EXPECT_GT(mean_cos[own], mean_cos[c] + 0.2) << cold << " vs category " << c;
    }
  }
  auto plain = Trainer::Create(Tiny(0));
  ASSERT_TRUE(plain.ok());
  FeedCatalogue(plain->get(), {{"cold0", 0}});
  EXPECT_EQ((*plain)->catalog_items(), 0);
  TrainClusters(plain->get(), 5);
  auto p = Snapshot(plain->get(), dir_ + "/plain");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ItemIndex(HashId("cold0")), -1);
}

// A snapshot keeps the catalogue's side features: a trainer resumed from it exports the
// same vectors (cold items included, with their ids) without further training, and
// carries on with them.
TEST_F(ItemSideFeaturesTest, ASnapshotRoundTripKeepsTheSideFeatures) {
  TrainerOptions o = Tiny(64);
  o.model_dir = dir_ + "/store";
  std::vector<std::string> ids;
  std::vector<float> vectors;
  {
    auto t = Trainer::Create(o);
    ASSERT_TRUE(t.ok());
    FeedCatalogue(t->get(), {{"cold1", 1}});
    TrainClusters(t->get(), 10);
    auto m = (*t)->WriteSnapshot(6000);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->model.brand_capacity, 64);
    auto s = ModelSnapshot::Load(m->dir);
    ASSERT_TRUE(s.ok());
    ids = (*s)->item_ids();
    vectors = (*s)->item_embeddings();
  }
  auto resumed = Trainer::Create(o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)->catalog_items(), 21);
  auto again = Snapshot(resumed->get(), dir_ + "/again");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->item_ids(), ids);
  EXPECT_EQ(again->item_embeddings(), vectors);
  EXPECT_GE(again->ItemIndex(HashId("cold1")), 0);
  EXPECT_EQ(again->item_ids()[again->ItemIndex(HashId("cold1"))], "cold1");

  // Another shape (no brand table) does not resume from it.
  TrainerOptions other = o;
  other.model.brand_capacity = 0;
  EXPECT_FALSE(Trainer::Create(other).ok());
}

// Turning side features on over a model store written without them (an upgrade): the
// trainer resumes the snapshot's parameters and id tables (the side tables fresh, the
// optimizer state afresh) and exports the same vectors until a catalogue arrives.
TEST_F(ItemSideFeaturesTest, ASnapshotWithoutSideTablesResumesIntoAModelWithThem) {
  TrainerOptions plain = Tiny(0);
  plain.model_dir = dir_ + "/store";
  std::vector<float> vectors;
  {
    auto t = Trainer::Create(plain);
    ASSERT_TRUE(t.ok());
    TrainClusters(t->get(), 10);
    auto m = (*t)->WriteSnapshot(6000);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto s = ModelSnapshot::Load(m->dir);
    ASSERT_TRUE(s.ok());
    vectors = (*s)->item_embeddings();
  }
  TrainerOptions side = plain;
  side.model.category_capacity = 64;
  side.model.brand_capacity = 64;
  auto resumed = Trainer::Create(side);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ((*resumed)->step(), 10);
  auto again = Snapshot(resumed->get(), dir_ + "/again");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->item_embeddings(), vectors);
  FeedCatalogue(resumed->get());
  TrainClusters(resumed->get(), 12);  // trains on, with the side tables
  EXPECT_EQ((*resumed)->step(), 12);
}

// ids.bin written before item brands existed (no trailing brand pairs) still decodes.
TEST_F(ItemSideFeaturesTest, IdsWithoutBrandsStillDecode) {
  namespace sf = snapshot_format;
  sf::IdMaps maps;
  maps.items = {{7, 1}};
  maps.item_categories = {{7, 99}};
  maps.item_brands = {{7, 98}};
  const std::string bytes = sf::EncodeIds(maps);
  auto full = sf::DecodeIds(bytes);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->item_brands, maps.item_brands);
  // The old layout: everything up to the item categories (the brand pairs are a count and
  // one pair of 8-byte fields).
  auto old = sf::DecodeIds(std::string_view(bytes).substr(0, bytes.size() - 8 - 16));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_TRUE(old->item_brands.empty());
  EXPECT_EQ(old->item_categories, maps.item_categories);
  EXPECT_FALSE(sf::DecodeIds(std::string_view(bytes).substr(0, bytes.size() - 4)).ok());
}

float Log1pScaled(double seconds) {
  return static_cast<float>(std::log1p(seconds) * kHistoryTimeScale);
}

// The W-RNN's features: the gap to the previous entry and the age relative to the
// window's newest entry, log1p seconds scaled; out-of-order times count as 0.
TEST(HistoryTimeFeaturesTest, GapsAndAgesFromTheWindowsOwnTimes) {
  EXPECT_TRUE(HistoryTimeFeatures({}).empty());
  const std::vector<float> f = HistoryTimeFeatures({0, 1000, 61000, 61000});
  const std::vector<float> want = {0.0f,              Log1pScaled(61),  //
                                   Log1pScaled(1),    Log1pScaled(60),  //
                                   Log1pScaled(60),   0.0f,             //
                                   0.0f,              0.0f};
  ASSERT_EQ(f.size(), want.size());
  for (size_t i = 0; i < f.size(); ++i) EXPECT_FLOAT_EQ(f[i], want[i]) << i;
  const std::vector<float> back = HistoryTimeFeatures({5000, 2000});
  EXPECT_FLOAT_EQ(back[2], 0.0f);  // 3 s backwards: no gap
  EXPECT_FLOAT_EQ(back[1], 0.0f);  // the newest entry is the first one's past: age 0
  EXPECT_FLOAT_EQ(back[3], 0.0f);
}

// BuildUserFeatures gives the W-RNN the features of the entries it keeps (unknown items
// dropped, padding zero), independent of the time reference; other encoders get none.
TEST(HistoryTimeFeaturesTest, BuildUserFeaturesComputesThemFromTheKeptEntries) {
  TwoTowerOptions o;
  o.history_encoder = HistoryEncoder::kWrnn;
  o.max_history = 3;
  const std::vector<std::vector<int64_t>> rows = {{4, 0, 5, 6, 7}, {9}};
  const std::vector<std::vector<int64_t>> ts = {{0, 1000, 3000, 10000, 70000}, {500}};
  UserFeatures f = BuildUserFeatures({1, 2}, rows, ts, {70000, 900}, o);
  ASSERT_TRUE(f.history_time.defined());
  ASSERT_EQ(f.history_time.sizes(), (std::vector<int64_t>{2, 3, kHistoryTimeFeatures}));
  EXPECT_EQ(f.history_len[0].item<int64_t>(), 3);  // the newest 3 of 5: 5, 6, 7 (0 dropped)
  const std::vector<float> row0 = HistoryTimeFeatures({3000, 10000, 70000});
  auto t = f.history_time.accessor<float, 3>();
  for (int64_t s = 0; s < 3; ++s) {
    for (int64_t c = 0; c < kHistoryTimeFeatures; ++c) {
      EXPECT_FLOAT_EQ(t[0][s][c], row0[static_cast<size_t>(s * kHistoryTimeFeatures + c)]);
    }
  }
  for (int64_t s = 0; s < 3; ++s) {  // one entry: gap 0, age 0; padding 0
    EXPECT_FLOAT_EQ(t[1][s][0], 0.0f);
    EXPECT_FLOAT_EQ(t[1][s][1], 0.0f);
  }
  // An unknown item in the middle is skipped: the gap runs from the entry before it.
  UserFeatures skip = BuildUserFeatures({1}, {{4, 0, 5}}, {{0, 1000, 3000}}, {3000}, o);
  EXPECT_FLOAT_EQ(skip.history_time[0][1][0].item<float>(), Log1pScaled(3));
  // The request's time does not enter: another reference, the same tensor.
  UserFeatures later = BuildUserFeatures({1, 2}, rows, ts, {999999, 5000000}, o);
  EXPECT_TRUE(torch::equal(f.history_time, later.history_time));
  o.history_encoder = HistoryEncoder::kGru;
  EXPECT_FALSE(BuildUserFeatures({1}, {{4}}, {{0}}, {0}, o).history_time.defined());
  o.history_encoder = HistoryEncoder::kMean;
  EXPECT_FALSE(BuildUserFeatures({1}, {{4}}, {{0}}, {0}, o).history_time.defined());
}

// The W-RNN user tower reads the gaps (the same items at other times give another vector;
// a GRU without them does not), and refuses features without them.
TEST(HistoryTimeFeaturesTest, TheWrnnUserTowerDependsOnTheGaps) {
  for (HistoryEncoder e : {HistoryEncoder::kWrnn, HistoryEncoder::kGru}) {
    torch::manual_seed(3);
    TwoTowerOptions o;
    o.embedding_dim = 8;
    o.hidden_dim = 16;
    o.output_dim = 8;
    o.user_capacity = 10;
    o.item_capacity = 10;
    o.history_encoder = e;
    TwoTowerModel m(o);
    torch::NoGradGuard no_grad;
    auto user = [&](const std::vector<int64_t>& ts) {
      return m->UserTower(BuildUserFeatures({1}, {{3, 4, 5}}, {ts}, {ts.back()}, o));
    };
    const torch::Tensor close = user({0, 1000, 2000});
    const torch::Tensor apart = user({0, 86400000, 2 * 86400000});
    if (e == HistoryEncoder::kWrnn) {
      EXPECT_GT((close - apart).abs().max().item<float>(), 1e-4);
      UserFeatures without = BuildUserFeatures({1}, {{3}}, {{0}}, {0}, o);
      without.history_time = torch::Tensor();
      EXPECT_THROW(m->UserTower(without), c10::Error);
    } else {
      EXPECT_TRUE(torch::equal(close, apart));
    }
  }
}

}  // namespace
}  // namespace streamrec::training
