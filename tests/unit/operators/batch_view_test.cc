#include "operators/batch_view.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/file_system.h"
#include "operators/batch_view_store.h"
#include "operators/item_stage.h"
#include "state/encoding.h"
#include "state/state_db.h"

namespace streamrec::operators {
namespace {

ClickEvent Ev(uint64_t user, uint64_t item, int64_t ts, EventType type = EventType::kClick) {
  ClickEvent e;
  e.user_key = user;
  e.user_id = "u" + std::to_string(user);
  e.item_key = item;
  e.item_id = "i" + std::to_string(item);
  e.ts_ms = ts;
  e.event = type;
  return e;
}

TEST(BatchViewTest, HandComputedCounts) {
  // Window of 2 items within 100 ms. User 1: 10, 11, 12 (purchase), 10; user 2: 10, 11
  // interleaved; user 1's last event is 150 ms after 12 so the window is empty.
  std::vector<ClickEvent> events = {Ev(1, 10, 0),   Ev(2, 10, 1),  Ev(1, 11, 10),
                                    Ev(2, 11, 20),  Ev(1, 12, 20, EventType::kPurchase),
                                    Ev(1, 10, 171)};
  auto view = ComputeBatchView(events, UserWindowOptions{2, 100}, CoocOptions{});
  std::map<std::pair<uint64_t, uint64_t>, double> want = {
      {{11, 10}, 2}, {{10, 11}, 2},  // user 1 then user 2, click weight 1
      {{12, 10}, 5}, {{10, 12}, 5},  // purchase with window {10, 11}
      {{12, 11}, 5}, {{11, 12}, 5}};
  EXPECT_EQ(view.pair_counts, want);
  EXPECT_EQ(view.item_counts, (std::map<uint64_t, double>{{10, 3}, {11, 2}, {12, 5}}));
  EXPECT_EQ(view.item_occurrences, (std::map<uint64_t, uint64_t>{{10, 3}, {11, 2}, {12, 1}}));
  EXPECT_EQ(view.events, 6u);
}

BatchViewOptions SmallOptions(Similarity sim, size_t k) {
  BatchViewOptions o;
  o.window = UserWindowOptions{2, 100};
  o.similarity = sim;
  o.top_k = k;
  o.popularity_half_life_ms = 0;
  o.estimator.array_size = 64;
  return o;
}

// The events of HandComputedCounts.
std::vector<ClickEvent> HandEvents() {
  return {Ev(1, 10, 0), Ev(2, 10, 1), Ev(1, 11, 10), Ev(2, 11, 20), Ev(1, 12, 20, EventType::kPurchase),
          Ev(1, 10, 171)};
}

TEST(BatchViewBuilderTest, SameCountsAsComputeBatchView) {
  BatchViewBuilder b(SmallOptions(Similarity::kCount, 5));
  for (const auto& e : HandEvents()) b.Add(e);
  const BatchView view = b.ToBatchView();
  const BatchView want = ComputeBatchView(HandEvents(), UserWindowOptions{2, 100}, CoocOptions{});
  EXPECT_EQ(view.pair_counts, want.pair_counts);
  EXPECT_EQ(view.item_counts, want.item_counts);
  EXPECT_EQ(view.item_occurrences, want.item_occurrences);
  EXPECT_EQ(b.events(), 6u);
  EXPECT_EQ(b.total_weight(), 10.0);  // 5 clicks + 1 purchase
  EXPECT_EQ(b.num_pairs(), 6u);
  EXPECT_EQ(b.max_ts_ms(), 171);
  EXPECT_EQ(b.items().at(12).item_id, "i12");
  EXPECT_EQ(b.items().at(10).popularity.value(), 3.0);  // no decay: the plain weighted count
}

TEST(BatchViewBuilderTest, ExactTopKUnderEverySimilarity) {
  // c_10 = 3, c_11 = 2, c_12 = 5, total 10; c_10,11 = 2, c_10,12 = 5, c_11,12 = 5.
  for (Similarity sim : {Similarity::kCount, Similarity::kCosine, Similarity::kJaccard, Similarity::kLift}) {
    BatchViewBuilder b(SmallOptions(sim, 1));
    for (const auto& e : HandEvents()) b.Add(e);
    const std::vector<Neighbor> top = b.TopNeighbors(10);
    ASSERT_EQ(top.size(), 1u) << SimilarityName(sim);
    const double s11 = SimilarityScore(sim, 2, 3, 2, 10);
    const double s12 = SimilarityScore(sim, 5, 3, 5, 10);
    const uint64_t best = s11 > s12 || (s11 == s12 && 11 < 12) ? 11 : 12;
    EXPECT_EQ(top[0].item_key, best) << SimilarityName(sim);
    EXPECT_DOUBLE_EQ(top[0].score, std::max(s11, s12)) << SimilarityName(sim);
    EXPECT_EQ(top[0].count, best == 11 ? 2.0 : 5.0);
  }
  BatchViewBuilder b(SmallOptions(Similarity::kCosine, 5));
  for (const auto& e : HandEvents()) b.Add(e);
  const std::vector<Neighbor> all = b.TopNeighbors(11);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].item_key, 12u);  // 5/sqrt(10) > 2/sqrt(6)
  EXPECT_DOUBLE_EQ(all[0].score, 5 / std::sqrt(10.0));
  EXPECT_DOUBLE_EQ(all[1].score, 2 / std::sqrt(6.0));
  EXPECT_TRUE(b.TopNeighbors(99).empty());
}

TEST(BatchViewBuilderTest, EstimatorAndPopularityFollowEveryEvent) {
  BatchViewOptions o = SmallOptions(Similarity::kCount, 5);
  o.popularity_half_life_ms = 100;
  BatchViewBuilder b(o);
  FrequencyEstimator want(o.estimator);
  DecayedCount pop10;
  for (const auto& e : HandEvents()) {
    b.Add(e);
    want.Observe(e.item_key);
    if (e.item_key == 10) pop10.Add(1.0, e.ts_ms, 100);
  }
  for (uint64_t item : {10u, 11u, 12u}) EXPECT_EQ(b.estimator().Estimate(item), want.Estimate(item));
  EXPECT_EQ(b.estimator().step(), 6.0);
  EXPECT_DOUBLE_EQ(b.items().at(10).popularity.value(), pop10.value());
  EXPECT_EQ(b.items().at(10).popularity.ts_ms(), 171);
}

class BatchViewStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = file_system::MakeTempDirectory("batch-view-store-").value(); }
  void TearDown() override { (void)file_system::RemoveAll(dir_); }
  std::string dir_;
};

TEST_F(BatchViewStoreTest, WritesTheItemStageLayoutAndReadsItBack) {
  BatchViewBuilder b(SmallOptions(Similarity::kCosine, 1));
  for (const auto& e : HandEvents()) b.Add(e);
  const std::string path = dir_ + "/view";
  auto summary = WriteItemStateDb(b, path);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->items, 3u);
  EXPECT_EQ(summary->pairs, 6u);
  EXPECT_EQ(summary->neighbor_lists, 3u);
  EXPECT_FALSE(file_system::Exists(path + ".build"));

  BatchView read;
  ASSERT_TRUE(ReadItemStateDb(path, 0, 1, &read).ok());
  const BatchView want = b.ToBatchView();
  EXPECT_EQ(read.pair_counts, want.pair_counts);
  EXPECT_EQ(read.item_counts, want.item_counts);
  EXPECT_EQ(read.item_occurrences, want.item_occurrences);
  EXPECT_EQ(read.events, 6u);
  ASSERT_EQ(read.top_neighbors.size(), 3u);
  for (const auto& [item, list] : want.top_neighbors) {
    ASSERT_EQ(read.top_neighbors[item].size(), list.size());
    EXPECT_EQ(read.top_neighbors[item][0].item_key, list[0].item_key);
    EXPECT_EQ(read.top_neighbors[item][0].score, list[0].score);
  }

  // The rest of the item stage's stores, as the stage reads them.
  state::StateDbOptions o;
  o.path = path;
  o.read_only = true;
  o.column_families = {kCountsStore, kPopularityStore, kIdsStore, kEstimatorStore};
  o.counter_column_families = {kCountsStore};
  auto db = state::StateDb::Open(o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto total = (*db)->Get((*db)->ColumnFamily(kCountsStore).value(), kTotalCountKey);
  ASSERT_TRUE(total.ok() && total->has_value());
  EXPECT_EQ(state::DecodeCounter(**total), std::vector<double>{10.0});
  auto id = (*db)->Get((*db)->ColumnFamily(kIdsStore).value(), state::Key64(12));
  ASSERT_TRUE(id.ok() && id->has_value());
  EXPECT_EQ(**id, "i12");
  auto pop = (*db)->Get((*db)->ColumnFamily(kPopularityStore).value(), state::Key64(10));
  ASSERT_TRUE(pop.ok() && pop->has_value());
  EXPECT_EQ(DecayedCount::Parse(**pop)->value(), 3.0);
  // The estimator restored from its "e" entries and "step" answers as the builder's.
  FrequencyEstimator restored(b.options().estimator);
  const auto est_cf = (*db)->ColumnFamily(kEstimatorStore).value();
  for (auto it = (*db)->NewIterator(est_cf, "e"); it->Valid(); it->Next()) {
    ASSERT_EQ(it->key().size(), 9u);
    ASSERT_TRUE(restored.ParseEntry(state::DecodeBigEndian64(it->key().data() + 1), it->value()).ok());
  }
  auto step = (*db)->Get(est_cf, "step");
  ASSERT_TRUE(step.ok() && step->has_value());
  EXPECT_EQ(state::DecodeDouble((*step)->data()), 6.0);
  for (uint64_t item : {10u, 11u, 12u}) EXPECT_EQ(restored.Estimate(item), b.estimator().Estimate(item));
}

TEST_F(BatchViewStoreTest, RefusesAnExistingPathAndStopsWhenAsked) {
  BatchViewBuilder b(SmallOptions(Similarity::kCount, 5));
  for (const auto& e : HandEvents()) b.Add(e);
  ASSERT_TRUE(file_system::CreateDirectories(dir_ + "/taken").ok());
  EXPECT_EQ(WriteItemStateDb(b, dir_ + "/taken").status().code(), Status::Code::kAlreadyExists);
  auto stopped = WriteItemStateDb(b, dir_ + "/stopped", [] { return true; });
  EXPECT_EQ(stopped.status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(file_system::Exists(dir_ + "/stopped"));
}

}  // namespace
}  // namespace streamrec::operators
