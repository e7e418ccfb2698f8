#include "operators/cooccurrence.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

using PairMap = std::map<std::pair<uint64_t, uint64_t>, double>;

PairMap Generate(const std::vector<WindowEntry>& window, uint64_t item, int64_t ts, EventType ev,
                 const CoocOptions& opt) {
  PairMap out;
  GeneratePairs(window, item, ts, ev, opt, [&](uint64_t a, uint64_t b, double w) { out[{a, b}] += w; });
  return out;
}

TEST(GeneratePairsTest, SymmetricPairsWeightedByEventType) {
  std::vector<WindowEntry> window = {{1, "a", 0, EventType::kView}, {2, "b", 10, EventType::kClick}};
  CoocOptions opt;  // purchase weight 5
  PairMap got = Generate(window, 3, 20, EventType::kPurchase, opt);
  PairMap want = {{{3, 1}, 5.0}, {{1, 3}, 5.0}, {{3, 2}, 5.0}, {{2, 3}, 5.0}};
  EXPECT_EQ(got, want);
}

TEST(GeneratePairsTest, SkipsTheSameItemAndEmptyWindow) {
  std::vector<WindowEntry> window = {{3, "c", 0, EventType::kView}};
  EXPECT_TRUE(Generate(window, 3, 20, EventType::kClick, {}).empty());
  EXPECT_TRUE(Generate({}, 3, 20, EventType::kClick, {}).empty());
}

TEST(GeneratePairsTest, HalfLifeDecaysByGap) {
  std::vector<WindowEntry> window = {{1, "a", 0, EventType::kView}, {2, "b", 9000, EventType::kView}};
  CoocOptions opt;
  opt.half_life_s = 10;
  PairMap got = Generate(window, 3, 10000, EventType::kClick, opt);
  EXPECT_DOUBLE_EQ((got[{3, 1}]), 0.5);          // 10 s gap = one half-life
  EXPECT_DOUBLE_EQ((got[{3, 2}]), std::exp2(-0.1));  // 1 s gap
  EXPECT_DOUBLE_EQ((got[{1, 3}]), 0.5);
}

TEST(EventWeightsTest, FromConfigAndValidation) {
  auto cfg = Config::FromYamlString("operators:\n  weights:\n    purchase: 10\n    view: 0.5\n");
  ASSERT_TRUE(cfg.ok());
  auto w = EventWeights::FromConfig(*cfg);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->Of(EventType::kPurchase), 10.0);
  EXPECT_EQ(w->Of(EventType::kView), 0.5);
  EXPECT_EQ(w->Of(EventType::kClick), 1.0);
  auto bad = Config::FromYamlString("operators:\n  weights:\n    click: -1\n");
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(EventWeights::FromConfig(*bad).ok());
}

TEST(CoocAggregatorTest, PreAggregatesAndRoutesByItemPartition) {
  CoocAggregator agg;
  agg.AddEvent(10, "i10", 1.0, 100);
  agg.AddEvent(11, "i11", 3.0, 200);
  agg.AddEvent(10, "i10", 1.0, 300);
  agg.AddPair(10, 11, 1.0);
  agg.AddPair(11, 10, 1.0);
  agg.AddPair(10, 11, 2.0);
  EXPECT_EQ(agg.pair_count(), 2u);
  std::vector<ItemCountDelta> flush_counts;
  auto out = agg.Drain(2, 4096, &flush_counts);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(agg.empty());
  ASSERT_EQ(flush_counts.size(), 2u) << "all counts, for the caller's peer bookkeeping";
  EXPECT_EQ(flush_counts[1].weight, 3.0);
  // Item 10 -> partition 0, item 11 -> partition 1; each owner gets its item's counts,
  // both get the flush totals.
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(out[p].size(), 1u);
    const auto& m = out[p][0];
    EXPECT_EQ(m.num_item_partitions, 2);
    EXPECT_EQ(m.flush_events, 3u);
    EXPECT_EQ(m.flush_weight, 5.0);
    ASSERT_EQ(m.counts.size(), 1u);
    EXPECT_TRUE(m.peer_counts.empty());
    ASSERT_EQ(m.pairs.size(), 1u);
  }
  EXPECT_EQ(out[0][0].counts[0].item_key, 10u);
  EXPECT_EQ(out[0][0].counts[0].weight, 2.0);
  EXPECT_EQ(out[0][0].counts[0].occurrences, 2u);
  EXPECT_EQ(out[0][0].counts[0].last_ts_ms, 300);
  EXPECT_EQ(out[1][0].counts[0].item_key, 11u);
  EXPECT_EQ(out[1][0].counts[0].weight, 3.0);
  EXPECT_EQ(out[0][0].pairs[0].item_key, 10u);
  EXPECT_EQ(out[0][0].pairs[0].neighbors, (std::vector<std::pair<uint64_t, double>>{{11, 3.0}}));
  EXPECT_EQ(out[1][0].pairs[0].item_key, 11u);
  EXPECT_EQ(out[1][0].pairs[0].neighbors, (std::vector<std::pair<uint64_t, double>>{{10, 1.0}}));
}

TEST(CoocAggregatorTest, SplitsLargeFlushesAndCarriesIds) {
  CoocAggregator agg;
  agg.AddEvent(2, "two", 1.0, 1);
  for (uint64_t b = 100; b < 110; ++b) {
    agg.NoteId(b, "n" + std::to_string(b));
    agg.AddPair(2, b, 1.0);
  }
  auto out = agg.Drain(1, 4);
  ASSERT_EQ(out[0].size(), 3u);  // 10 pairs in chunks of 4
  double total = 0;
  size_t pairs = 0;
  for (size_t i = 0; i < out[0].size(); ++i) {
    const auto& m = out[0][i];
    EXPECT_EQ(m.counts.empty(), i > 0) << "only the first chunk carries the counts";
    for (const auto& g : m.pairs) {
      for (const auto& [b, w] : g.neighbors) {
        total += w;
        ++pairs;
        bool has_id = false;
        for (const auto& [k, id] : m.ids) has_id |= (k == b && id == "n" + std::to_string(b));
        EXPECT_TRUE(has_id) << b;
      }
    }
  }
  EXPECT_EQ(pairs, 10u);
  EXPECT_EQ(total, 10.0);
}

TEST(CoocDeltaMessageTest, EncodeDecodeRoundTripAndCorruption) {
  CoocDeltaMessage m;
  m.num_item_partitions = 4;
  m.flush_events = 17;
  m.ids = {{1, "a"}, {2, "b"}};
  m.counts = {{1, 2.5, 3, 99}};
  m.peer_counts = {{7, 1.0, 1, 5}};
  m.flush_weight = 3.5;
  m.pairs = {{1, {{2, 1.5}, {3, 4.0}}}};
  const std::string bytes = EncodeCoocDeltaMessage(m);
  auto d = DecodeCoocDeltaMessage(bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->num_item_partitions, 4);
  EXPECT_EQ(d->flush_events, 17u);
  EXPECT_EQ(d->ids, m.ids);
  ASSERT_EQ(d->counts.size(), 1u);
  EXPECT_EQ(d->counts[0].weight, 2.5);
  EXPECT_EQ(d->counts[0].last_ts_ms, 99);
  ASSERT_EQ(d->peer_counts.size(), 1u);
  EXPECT_EQ(d->peer_counts[0].item_key, 7u);
  EXPECT_EQ(d->flush_weight, 3.5);
  EXPECT_EQ(d->pairs[0].neighbors, m.pairs[0].neighbors);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeCoocDeltaMessage(bytes.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeCoocDeltaMessage("{\"json\":1}").ok());
}

}  // namespace
}  // namespace streamrec::operators
