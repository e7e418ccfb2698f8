#include "serving/recommender.h"

#include <cmath>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "training/ranker.h"

namespace streamrec::serving {
namespace {

HistoryEntry H(const std::string& id, int64_t ts) { return HistoryEntry{HashId(id), id, ts}; }

// Small tables:
//   catalogue: b,c,e cat "c1"; f,g cat "c2"; d unavailable; brands: b,f "x", others "y".
//   neighbours: a → b 4, c 2, d 1;  x → c 2, e 4, a 2.
//   stats: f popularity 10, b 5, g 2.
class RecommenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddItem("a", "c1", "y", true);
    AddItem("b", "c1", "x", true);
    AddItem("c", "c1", "y", true);
    AddItem("d", "c1", "y", false);
    AddItem("e", "c1", "y", true);
    AddItem("f", "c2", "x", true);
    AddItem("g", "c2", "y", true);
    AddItem("x", "c3", "y", true);
    catalog_.Publish();
    AddNeighbors("a", {{"b", 4}, {"c", 2}, {"d", 1}});
    AddNeighbors("x", {{"c", 2}, {"e", 4}, {"a", 2}});
    AddStats("f", 10);
    AddStats("b", 5);
    AddStats("g", 2);
    stats_.Publish();
    options_.cooc_recency_decay = 0.5;
    options_.cooc_weight = 1.0;
    options_.popular_weight = 0.1;
    options_.two_tower_weight = 1.0;
  }

  void AddItem(const std::string& id, const std::string& cat, const std::string& brand,
               bool available) {
    CatalogItem item;
    item.item_key = HashId(id);
    item.item_id = id;
    item.category = cat;
    item.brand = brand;
    item.available = available;
    catalog_.Put(item);
  }
  void AddNeighbors(const std::string& id, std::vector<std::pair<std::string, double>> list) {
    ItemNeighbors nb;
    nb.item_key = HashId(id);
    nb.item_id = id;
    for (const auto& [n, score] : list) nb.neighbors.push_back({HashId(n), n, score, score});
    neighbors_.Put(nb);
  }
  void AddStats(const std::string& id, double popularity) {
    ItemStats s;
    s.item_key = HashId(id);
    s.item_id = id;
    s.count = popularity;
    s.popularity = popularity;
    stats_.Put(s);
  }
  Recommender Make() const {
    return Recommender(options_, RecommenderTables{&catalog_, &neighbors_, &stats_});
  }

  ItemCatalog catalog_;
  NeighborTable neighbors_;
  StatsTable stats_;
  RecommenderOptions options_;
};

std::vector<std::string> Ids(const std::vector<ScoredItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.item_id);
  return out;
}

TEST_F(RecommenderTest, MergesScoresFiltersSeenAndUnavailable) {
  const auto recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 10, nullptr);
  // cooc: from a (weight 1) b 4, c 2, d 1; from x (weight .5) c 1, e 2, a 1.
  // a is seen, d unavailable; max cooc 4 → b 1, c .75, e .5;
  // popularity / 10 × 0.1: f .1, b .05, g .02.
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("b", "c", "e", "f", "g"));
  EXPECT_DOUBLE_EQ(recs[0].score, 1.05);
  EXPECT_DOUBLE_EQ(recs[1].score, 0.75);
  EXPECT_DOUBLE_EQ(recs[2].score, 0.5);
  EXPECT_DOUBLE_EQ(recs[3].score, 0.1);
  EXPECT_DOUBLE_EQ(recs[4].score, 0.02);
  EXPECT_EQ(recs[0].sources, kChannelCooc | kChannelPopular);
  EXPECT_EQ(recs[1].sources, kChannelCooc);
  EXPECT_EQ(recs[3].sources, kChannelPopular);
  EXPECT_EQ(ChannelNames(recs[0].sources), (std::vector<std::string>{"cooc", "popular"}));
  EXPECT_EQ(recs[0].item_key, HashId("b"));

  // k cuts the sorted list.
  EXPECT_THAT(Ids(Make().Recommend("u1", {H("x", 1), H("a", 2)}, 2, nullptr)),
              ::testing::ElementsAre("b", "c"));
}

TEST_F(RecommenderTest, RecencyDecayFavoursTheNewestItem) {
  // Same window, other order: x is now the newest (weight 1), a weight .5:
  // e 4, c 2+1=3, b 2, (a seen), d unavailable → /4: e 1, c .75, b .5 (+.05).
  const auto recs = Make().Recommend("u1", {H("a", 1), H("x", 2)}, 3, nullptr);
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("e", "c", "b"));
  EXPECT_DOUBLE_EQ(recs[2].score, 0.55);
}

TEST_F(RecommenderTest, DiversityCapsPerCategoryAndBrand) {
  // Scores: b 1.05, c .75, e .5, f .1, g .02 (see above).
  options_.max_per_category = 2;
  options_.max_per_brand = 0;
  auto recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 4, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("b", "c", "f", "g"));  // e: third of c1
  // k = 10 with 5 candidates: e, set aside by the cap, fills the list back.
  recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 10, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("b", "c", "f", "g", "e"));
  options_.max_per_category = 0;
  options_.max_per_brand = 1;
  recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 2, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("b", "c"));  // one "x", one "y"
  // Past the two brands, the capped items come back in score order.
  recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 4, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("b", "c", "e", "f"));
}

// A trigger "t" whose neighbours are `n` items of category "big" (scores n, n-1, ..., 1:
// big-00 first) and the items of `others` (score 0.5 each, then by id).
class RerankFillTest : public ::testing::Test {
 protected:
  void Build(int n, const std::vector<std::pair<std::string, std::string>>& others) {
    ItemNeighbors nb;
    nb.item_key = HashId("t");
    nb.item_id = "t";
    for (int i = 0; i < n; ++i) {
      const std::string id = std::string("big-") + (i < 10 ? "0" : "") + std::to_string(i);
      Put(id, "big", "acme");
      nb.neighbors.push_back({HashId(id), id, double(n - i), double(n - i)});
    }
    for (const auto& [id, cat] : others) {
      Put(id, cat, "");
      nb.neighbors.push_back({HashId(id), id, 0.5, 0.5});
    }
    catalog_.Publish();
    neighbors_.Put(nb);
    options_.cooc_neighbors_per_item = 1000;
    options_.popular_weight = 0;
    options_.channels = kChannelCooc;  // no fallback items: the candidates are exactly these
  }
  void Put(const std::string& id, const std::string& cat, const std::string& brand) {
    CatalogItem item;
    item.item_key = HashId(id);
    item.item_id = id;
    item.category = cat;
    item.brand = brand;
    catalog_.Put(item);
  }
  std::vector<ScoredItem> Recommend(size_t k) const {
    Recommender r(options_, RecommenderTables{&catalog_, &neighbors_, nullptr});
    return r.Recommend("u", {H("t", 1)}, k, nullptr);
  }

  ItemCatalog catalog_;
  NeighborTable neighbors_;
  RecommenderOptions options_;
};

TEST_F(RerankFillTest, ManyItemsOfOneCategoryStillGiveK) {
  Build(30, {{"o1", "drama"}, {"o2", "comedy"}});
  options_.max_per_category = 3;
  const auto recs = Recommend(10);
  // Three of "big", the two others, then "big" back in score order up to k.
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("big-00", "big-01", "big-02", "o1", "o2", "big-03",
                                                "big-04", "big-05", "big-06", "big-07"));
}

TEST_F(RerankFillTest, OneCategoryOnlyAndBrandCapStillGiveK) {
  Build(25, {});
  options_.max_per_category = 2;
  options_.max_per_brand = 1;
  const auto recs = Recommend(10);
  ASSERT_EQ(recs.size(), 10u);
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].item_id, std::string("big-0") + std::to_string(i));  // score order
  }
  EXPECT_EQ(Recommend(25).size(), 25u);
}

TEST_F(RerankFillTest, ItemsWithoutCategoryOrBrandAreNotCapped) {
  // n1..n4: no category, no brand; "z" is not in the catalogue at all.
  Build(6, {{"n1", ""}, {"n2", ""}, {"n3", ""}, {"n4", ""}});
  ItemNeighbors nb = neighbors_.Get(HashId("t"))->ToItemNeighbors();
  nb.neighbors.push_back({HashId("z"), "z", 0.4, 0.4});
  neighbors_.Put(nb);
  options_.max_per_category = 1;
  options_.max_per_brand = 1;
  const auto recs = Recommend(8);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("big-00", "n1", "n2", "n3", "n4", "z", "big-01",
                                                "big-02"));
}

TEST_F(RerankFillTest, FewerCandidatesThanKGiveAllOfThem) {
  Build(4, {{"o1", "drama"}});
  options_.max_per_category = 1;
  const auto recs = Recommend(10);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("big-00", "o1", "big-01", "big-02", "big-03"));
  options_.max_per_category = 0;
  EXPECT_EQ(Recommend(10).size(), 5u);
}

TEST_F(RecommenderTest, ColdStartUserGetsTrendingThenFallback) {
  options_.fallback_candidates = 3;
  const auto recs = Make().Recommend("new-user", {}, 5, nullptr);
  // Trending f, b, g; then catalogue items by id (available, not already present): a, c, e.
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("f", "b", "g", "a", "c"));
  EXPECT_EQ(recs[0].sources, kChannelPopular);
  EXPECT_EQ(recs[3].sources, kChannelFallback);
  EXPECT_DOUBLE_EQ(recs[3].score, 0.0);
  // Enough candidates: no fallback.
  for (const auto& r : Make().Recommend("new-user", {}, 3, nullptr)) {
    EXPECT_EQ(r.sources, kChannelPopular);
  }
}

SeenItem Seen(const std::string& id, int64_t ts, std::initializer_list<EventType> events) {
  SeenItem s{HashId(id), ts, 0};
  for (EventType e : events) s.events |= SeenItem::EventBit(e);
  return s;
}

TEST_F(RecommenderTest, SeenRecordFiltersByEventTypeAndViewedItemsComeBack) {
  // Window [a]: cooc b 4, c 2 (d unavailable); trending f, b, g. Outside the window the
  // user bought b long ago, viewed f and carted c, and viewed then bought g.
  const std::vector<SeenItem> seen = {Seen("b", 1, {EventType::kPurchase}),
                                      Seen("f", 2, {EventType::kView}),
                                      Seen("c", 3, {EventType::kAddToCart}),
                                      Seen("g", 4, {EventType::kView, EventType::kPurchase})};
  options_.channels = kChannelCooc | kChannelPopular;  // no catalogue fallback filling up
  // Default: purchases filtered; the viewed and carted items come back.
  EXPECT_THAT(Ids(Make().Recommend("u1", {H("a", 5)}, 10, nullptr, seen)),
              ::testing::ElementsAre("c", "f"));
  // Carts filtered too.
  options_.filter_seen_events =
      SeenItem::EventBit(EventType::kPurchase) | SeenItem::EventBit(EventType::kAddToCart);
  EXPECT_THAT(Ids(Make().Recommend("u1", {H("a", 5)}, 10, nullptr, seen)),
              ::testing::ElementsAre("f"));
  // No type filtered: only the window is.
  options_.filter_seen_events = 0;
  EXPECT_THAT(Ids(Make().Recommend("u1", {H("a", 5)}, 10, nullptr, seen)),
              ::testing::ElementsAre("b", "c", "f", "g"));
  // The one exclusion rule, as the harness's baselines read it.
  options_.filter_seen_events = SeenItem::EventBit(EventType::kView);
  const auto excluded = ExcludedItems(options_, {H("a", 5)}, seen);
  EXPECT_EQ(excluded, (std::unordered_set<uint64_t>{HashId("a"), HashId("f"), HashId("g")}));
  options_.filter_seen = false;
  EXPECT_EQ(ExcludedItems(options_, {H("a", 5)}, seen),
            (std::unordered_set<uint64_t>{HashId("f"), HashId("g")}));
}

TEST_F(RecommenderTest, RenewedInterestBringsBackTheUsersOwnItemsByStrengthAndRecency) {
  constexpr int64_t kHour = 3'600'000;
  const int64_t now = 1000 * kHour;
  // Outside the window [a]: c carted an hour ago, f viewed an hour ago, e clicked 200 h
  // ago, b bought, a (in the window) viewed, "zz" unknown to every table.
  const std::vector<SeenItem> seen = {
      Seen("e", now - 200 * kHour, {EventType::kClick}), Seen("b", now - 2 * kHour, {EventType::kPurchase}),
      Seen("zz", now - kHour, {EventType::kAddToCart}), Seen("f", now - kHour, {EventType::kView}),
      Seen("c", now - kHour, {EventType::kAddToCart}), Seen("a", now, {EventType::kView})};
  options_.channels = kChannelRenewed;
  options_.renewed_weight = 1.0;  // the score as is (default 0.3)
  const std::vector<ScoredItem> recs = Make().Recommend("u1", {H("a", now)}, 10, nullptr, seen);
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("c", "f", "e"));
  const double decay_1h = std::exp2(-1.0 / 72);
  EXPECT_NEAR(recs[0].score, 1.0 * decay_1h, 1e-9);           // cart
  EXPECT_NEAR(recs[1].score, 0.3 * decay_1h, 1e-9);           // view
  EXPECT_NEAR(recs[2].score, 0.6 * std::exp2(-200.0 / 72), 1e-9);  // an old click
  EXPECT_EQ(recs[0].sources, kChannelRenewed);
  EXPECT_EQ(ChannelNames(recs[0].sources), std::vector<std::string>{"renewed"});

  // In the blend, the term adds to the other channels' scores: c, a cooc neighbour of a
  // (the best eligible one, b being bought: 1), carted an hour ago.
  options_.channels = kChannelCooc | kChannelRenewed;
  std::vector<ScoredItem> blend = Make().Recommend("u1", {H("a", now)}, 10, nullptr, seen);
  ASSERT_THAT(Ids(blend), ::testing::ElementsAre("c", "f", "e"));
  EXPECT_NEAR(blend[0].score, 1.0 + decay_1h, 1e-9);
  EXPECT_EQ(blend[0].sources, kChannelCooc | kChannelRenewed);
  // Off (weight 0 and no candidates): c by cooc alone, the others gone.
  options_.renewed_weight = 0;
  options_.renewed_candidates = 0;
  blend = Make().Recommend("u1", {H("a", now)}, 10, nullptr, seen);
  ASSERT_THAT(Ids(blend), ::testing::ElementsAre("c"));
  EXPECT_NEAR(blend[0].score, 1.0, 1e-9);
  // The newest first: only the newest n are candidates.
  options_.renewed_weight = 1;
  options_.renewed_candidates = 1;
  options_.channels = kChannelRenewed;
  EXPECT_THAT(Ids(Make().Recommend("u1", {H("a", now)}, 10, nullptr, seen)),
              ::testing::ElementsAre("c"));
}

TEST(ParseEventTypesTest, NamesToBitsNoneAndErrors) {
  auto bits = ParseEventTypes("purchase, add_to_cart");
  ASSERT_TRUE(bits.ok());
  EXPECT_EQ(*bits, SeenItem::EventBit(EventType::kPurchase) |
                       SeenItem::EventBit(EventType::kAddToCart));
  bits = ParseEventTypes("none");
  ASSERT_TRUE(bits.ok());
  EXPECT_EQ(*bits, 0);
  EXPECT_FALSE(ParseEventTypes("").ok());
  EXPECT_FALSE(ParseEventTypes("buy").ok());
  EXPECT_FALSE(ParseEventTypes("none,view").ok());
}

TEST_F(RecommenderTest, RequireInCatalogueDropsUnknownItems) {
  AddNeighbors("a", {{"b", 4}, {"zz", 8}});
  auto recs = Make().Recommend("u1", {H("a", 1)}, 1, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("zz"));
  options_.require_in_catalogue = true;
  recs = Make().Recommend("u1", {H("a", 1)}, 1, nullptr);
  EXPECT_THAT(Ids(recs), ::testing::ElementsAre("b"));
}

TwoTowerModel MakeModel(int64_t version, double temperature = kBlendReferenceTemperature) {
  // a (1,0), x (0,1): the window [x, a] pools to (1,1)/√2.
  auto items = ItemEmbeddings::Create({"a", "x", "b", "c", "e", "h"}, 2,
                                      {1, 0, 0, 1, 0.6f, 0.8f, 0.96f, 0.28f, -1, 0, 0, -1});
  EXPECT_TRUE(items.ok());
  auto index = NewEmbeddingIndex(*items, {});
  return TwoTowerModel(version, *items, std::move(index).value(),
                       NewMeanPoolingUserEncoder(*items), nullptr, temperature);
}

TEST_F(RecommenderTest, TwoTowerChannelAndScore) {
  const TwoTowerModel model = MakeModel(7);
  options_.cooc_weight = 0;
  options_.popular_weight = 0;
  options_.popular_candidates = 0;
  options_.fallback_candidates = 0;
  options_.two_tower_candidates = 2;
  const Recommender no_cooc(options_, RecommenderTables{&catalog_, nullptr, &stats_});
  const auto recs = no_cooc.Recommend("u1", {H("x", 1), H("a", 2)}, 10, &model);
  // The index returns 2 + |seen| = 4 rows: b .98995, c .87681, a, x (.7071); a, x seen.
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("b", "c"));
  const float u = static_cast<float>(1 / std::sqrt(2.0));
  EXPECT_NEAR(recs[0].score, 0.6f * u + 0.8f * u, 1e-6);
  EXPECT_NEAR(recs[1].score, 0.96f * u + 0.28f * u, 1e-6);
  EXPECT_EQ(recs[0].sources, kChannelTwoTower);
}

// The two-tower term is the model's logit on the reference τ's scale: a model trained at
// τ 0.2 adds a quarter of ⟨u,v⟩ (TwoTowerModel::blend_scale).
TEST_F(RecommenderTest, BlendAddsTwoTowerScoreToEveryCandidate) {
  options_.two_tower_candidates = 1;  // index asked for 1 + |seen| = 3 rows: b, c, a
  options_.popular_weight = 0;
  options_.popular_candidates = 0;
  options_.fallback_candidates = 0;
  for (const auto& [temperature, scale] : {std::pair{0.05, 1.0}, std::pair{0.2, 0.25}}) {
    const TwoTowerModel model = MakeModel(7, temperature);
    EXPECT_DOUBLE_EQ(model.blend_scale(), scale);
    const auto recs = Make().Recommend("u1", {H("x", 1), H("a", 2)}, 10, &model);
    const double u = static_cast<float>(1 / std::sqrt(2.0));
    // cooc b 1, c .75, e .5; two-tower b .98995, c .87681, e -.7071.
    ASSERT_THAT(Ids(recs), ::testing::ElementsAre("b", "c", "e"));
    EXPECT_NEAR(recs[0].score, 1 + scale * 1.4 * u, 1e-6);
    EXPECT_NEAR(recs[1].score, 0.75 + scale * 1.24 * u, 1e-6);
    EXPECT_NEAR(recs[2].score, 0.5 - scale * u, 1e-6);
    EXPECT_EQ(recs[0].sources, kChannelCooc | kChannelTwoTower);
    EXPECT_EQ(recs[1].sources, kChannelCooc | kChannelTwoTower);
    EXPECT_EQ(recs[2].sources, kChannelCooc);
  }
}

// A ranker that scores −(blend + 10): it reverses the blend's order (blends > −10).
std::shared_ptr<const training::RankerModel> ReversingRanker() {
  training::RankerShape shape{kRankerFeatures, 1, 1};
  std::vector<float> p(training::RankerModel::NumParams(shape), 0.0f);
  p[0] = 1;                   // w1[0][blend]
  p[kRankerFeatures] = 10;    // b1
  p[kRankerFeatures + 1] = 1; // w2
  p[kRankerFeatures + 3] = -1; // w3 (b2 at +2 is 0, b3 last is 0)
  auto model = training::RankerModel::Create(shape, p);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return *model;
}

TwoTowerModel MakeRankedModel(int64_t version) {
  auto items = ItemEmbeddings::Create({"a", "x", "b", "c", "e", "h"}, 2,
                                      {1, 0, 0, 1, 0.6f, 0.8f, 0.96f, 0.28f, -1, 0, 0, -1});
  EXPECT_TRUE(items.ok());
  auto index = NewEmbeddingIndex(*items, {});
  return TwoTowerModel(version, *items, std::move(index).value(),
                       NewMeanPoolingUserEncoder(*items), ReversingRanker());
}

TEST_F(RecommenderTest, TheRankerReordersTheBlendsBestAndCanBeSwitchedOff) {
  const TwoTowerModel ranked = MakeRankedModel(7);
  const TwoTowerModel unranked = MakeModel(7);
  options_.two_tower_candidates = 1;
  options_.popular_weight = 0;
  options_.popular_candidates = 0;
  options_.fallback_candidates = 0;
  const std::vector<HistoryEntry> window = {H("x", 1), H("a", 2)};
  // Blend order b, c, e (BlendAddsTwoTowerScoreToEveryCandidate).
  options_.ranker_enabled = false;
  EXPECT_THAT(Ids(Make().Recommend("u1", window, 10, &ranked)),
              ::testing::ElementsAre("b", "c", "e"));
  options_.ranker_enabled = true;
  const auto recs = Make().Recommend("u1", window, 10, &ranked);
  ASSERT_THAT(Ids(recs), ::testing::ElementsAre("e", "c", "b"));
  const double u = static_cast<float>(1 / std::sqrt(2.0));
  EXPECT_NEAR(recs[0].score, -(10 + 0.5 - u), 1e-5);  // the ranker's score
  // k items come back with the ranker on.
  EXPECT_THAT(Ids(Make().Recommend("u1", window, 2, &ranked)), ::testing::ElementsAre("e", "c"));
  // A depth of 2 reorders only the blend's two best: c, b, then e.
  options_.ranker_depth = 2;
  EXPECT_THAT(Ids(Make().Recommend("u1", window, 3, &ranked)),
              ::testing::ElementsAre("c", "b", "e"));
  options_.ranker_depth = 100;
  // A model without a ranker: the blend's order (the fallback), also without a model.
  EXPECT_THAT(Ids(Make().Recommend("u1", window, 10, &unranked)),
              ::testing::ElementsAre("b", "c", "e"));
  EXPECT_EQ(Make().Recommend("u1", window, 10, nullptr).size(), 3u);
}

TEST_F(RecommenderTest, CaptureHoldsTheRankersCandidatesAndFeaturesInBlendOrder) {
  const TwoTowerModel ranked = MakeRankedModel(7);
  options_.two_tower_candidates = 1;
  options_.popular_weight = 0.1;
  options_.popular_candidates = 0;
  options_.fallback_candidates = 0;
  options_.ranker_enabled = true;
  const std::vector<HistoryEntry> window = {H("x", 1), H("a", 2)};
  RankerCapture capture;
  const auto with = Make().Recommend("u1", window, 10, &ranked, {}, nullptr, 0, &capture);
  EXPECT_EQ(with, Make().Recommend("u1", window, 10, &ranked));  // the same answer
  EXPECT_TRUE(capture.ranked);
  ASSERT_EQ(capture.item_keys.size(), 3u);
  EXPECT_EQ(capture.item_keys[0], HashId("b"));  // blend order, not the ranker's
  EXPECT_EQ(capture.item_keys[2], HashId("e"));
  ASSERT_EQ(capture.features.size(), 3u * kRankerFeatures);
  const float* b = capture.features.data();
  const float* e = b + 2 * kRankerFeatures;
  EXPECT_FLOAT_EQ(b[1], 0.0f);             // blend rank
  EXPECT_FLOAT_EQ(b[2], 1.0f);             // is_cooc
  EXPECT_FLOAT_EQ(b[3], 1.0f);             // cooc / max: b has the max
  EXPECT_FLOAT_EQ(b[5], 1.0f);             // is_two_tower (b is the index's nearest)
  EXPECT_FLOAT_EQ(e[5], 0.0f);
  EXPECT_GT(b[6], e[6]);                   // ⟨u, v⟩ also for e (scored, not recalled)
  EXPECT_FLOAT_EQ(b[9], 0.5f);             // popularity 5 / max 10
  EXPECT_FLOAT_EQ(e[9], 0.0f);
  EXPECT_FLOAT_EQ(b[14], 1.0f);            // brought by the newest window item (a)
  EXPECT_FLOAT_EQ(e[14], 0.5f);            // by x only (decay 0.5)
  // Window [x (c3), a (c1)]: half of it shares b's and e's category c1.
  EXPECT_FLOAT_EQ(b[19], 0.5f);
  EXPECT_FLOAT_EQ(e[19], 0.5f);
  EXPECT_FLOAT_EQ(b[20], 0.0f);            // brand x: none of the window's (both y)
  EXPECT_FLOAT_EQ(e[20], 1.0f);            // brand y
  // Off: the same candidates are captured (to train a ranker before it is switched on).
  options_.ranker_enabled = false;
  RankerCapture off;
  Make().Recommend("u1", window, 10, &ranked, {}, nullptr, 0, &off);
  EXPECT_FALSE(off.ranked);
  EXPECT_EQ(off.item_keys, capture.item_keys);
}

TEST(RankerFeaturesTest, RanksWithinTheListAndNamesEveryFeature) {
  std::vector<RankerSignals> list(4);
  list[0].sources = kChannelCooc;
  list[0].cooc = 0.2;
  list[1].sources = kChannelCooc;
  list[1].cooc = 1.0;
  list[2].has_two_tower = true;
  list[2].two_tower = 0.3;
  list[3].count = 4;
  list[3].decayed = 1;
  list[3].sampling_prob = 1e-3;
  list[3].age_hours = 0;
  std::vector<float> f;
  RankerFeatures(list, &f);
  ASSERT_EQ(f.size(), 4u * kRankerFeatures);
  auto at = [&](size_t i, int64_t k) { return f[i * kRankerFeatures + k]; };
  EXPECT_FLOAT_EQ(at(1, 4), 0.0f);   // best cooc
  EXPECT_FLOAT_EQ(at(0, 4), 0.25f);  // second of 4
  EXPECT_FLOAT_EQ(at(2, 4), 1.0f);   // not from cooc
  EXPECT_FLOAT_EQ(at(2, 7), 0.0f);   // the only two-tower score
  EXPECT_FLOAT_EQ(at(3, 7), 1.0f);
  EXPECT_FLOAT_EQ(at(3, 1), 0.75f);  // blend rank
  EXPECT_FLOAT_EQ(at(3, 16), 0.25f); // trend 1 / 4
  EXPECT_NEAR(at(3, 17), 4.0 / 7.0, 1e-6);  // (log10 1e-3 + 7) / 7
  EXPECT_FLOAT_EQ(at(3, 18), 0.0f);
  EXPECT_FLOAT_EQ(at(0, 17), 0.0f);  // p̂ unknown
  for (int64_t i = 0; i < kRankerFeatures; ++i) {
    EXPECT_STRNE(RankerFeatureName(i), "unknown") << i;
  }
}

TEST_F(RecommenderTest, SimilarItems) {
  const TwoTowerModel model = MakeModel(3);
  options_.two_tower_candidates = 2;
  auto similar = Make().Similar(HashId("a"), 10, nullptr);
  ASSERT_TRUE(similar.ok());
  // a's neighbours b 4, c 2, d 1 (unavailable) → b 1, c .5.
  ASSERT_THAT(Ids(*similar), ::testing::ElementsAre("b", "c"));
  EXPECT_DOUBLE_EQ((*similar)[1].score, 0.5);
  similar = Make().Similar(HashId("a"), 10, &model);
  ASSERT_TRUE(similar.ok());
  // Embedding neighbours of a (1,0): a itself (dropped), c .96, b .6.
  ASSERT_THAT(Ids(*similar), ::testing::ElementsAre("b", "c"));
  EXPECT_NEAR((*similar)[0].score, 1 + 0.6, 1e-6);
  EXPECT_NEAR((*similar)[1].score, 0.5 + 0.96, 1e-6);
  EXPECT_EQ((*similar)[1].sources, kChannelCooc | kChannelTwoTower);
  // Known only to the model.
  similar = Make().Similar(HashId("h"), 1, &model);
  ASSERT_TRUE(similar.ok());
  // h (0,-1): h itself (dropped), then a and e at 0 (tie broken by id).
  EXPECT_THAT(Ids(*similar), ::testing::ElementsAre("a"));
  EXPECT_EQ(Make().Similar(HashId("nope"), 5, &model).status().code(), Status::Code::kNotFound);
}

TEST_F(RecommenderTest, CountsRecallCandidatesPerChannel) {
  Make().Recommend("u1", {H("x", 1), H("a", 2)}, 10, nullptr);
  const std::string text = SerializeMetrics();
  EXPECT_NE(text.find("streamrec_recall_candidates_total{channel=\"cooc\"}"), std::string::npos);
  EXPECT_NE(text.find("streamrec_recall_candidates_total{channel=\"popular\"}"), std::string::npos);
}

}  // namespace
}  // namespace streamrec::serving
