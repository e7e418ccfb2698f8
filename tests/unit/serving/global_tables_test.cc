#include "serving/global_tables.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"

namespace streamrec::serving {
namespace {

TEST(ItemCatalogTest, ApplyTombstoneAndFallbackOrder) {
  ItemCatalog catalog(/*fallback_size=*/2);
  ASSERT_TRUE(catalog.Apply("c", std::string_view(R"({"item_id":"c"})")).ok());
  ASSERT_TRUE(catalog.Apply("a", std::string_view(R"({"item_id":"a","available":false})")).ok());
  ASSERT_TRUE(catalog.Apply("b", std::string_view(R"({"item_id":"b"})")).ok());
  ASSERT_TRUE(catalog.Apply("d", std::string_view(R"({"item_id":"d"})")).ok());
  EXPECT_FALSE(catalog.Apply("e", std::string_view(R"({"item_id":"f"})")).ok());
  EXPECT_EQ(catalog.size(), 4u);
  EXPECT_EQ(catalog.Fallback(), nullptr);  // not published yet
  catalog.Publish();
  auto fallback = catalog.Fallback();
  ASSERT_NE(fallback, nullptr);
  ASSERT_EQ(fallback->size(), 2u);  // unavailable "a" skipped, capped at 2
  EXPECT_EQ((*fallback)[0]->item_id, "b");
  EXPECT_EQ((*fallback)[1]->item_id, "c");

  ASSERT_TRUE(catalog.Apply("b", std::nullopt).ok());
  EXPECT_EQ(catalog.Get(HashId("b")), nullptr);
  EXPECT_EQ(catalog.size(), 3u);
  catalog.Publish();
  fallback = catalog.Fallback();
  ASSERT_EQ(fallback->size(), 2u);
  EXPECT_EQ((*fallback)[0]->item_id, "c");
  EXPECT_EQ((*fallback)[1]->item_id, "d");
  // A reader's old snapshot is unaffected by later updates.
  ASSERT_TRUE(catalog.Apply("c", std::string_view(R"({"item_id":"c","available":false})")).ok());
  EXPECT_TRUE((*fallback)[0]->available);
  EXPECT_FALSE(catalog.Get(HashId("c"))->available);
}

TEST(NeighborTableTest, DecodesAppliesAndDeletes) {
  NeighborTable table;
  ItemNeighbors nb;
  nb.item_key = HashId("a");
  nb.item_id = "a";
  nb.updated_ts_ms = 5;
  nb.neighbors.push_back({HashId("b"), "b", 0.5, 3});
  ASSERT_TRUE(table.Apply("a", std::string_view(EncodeItemNeighbors(nb))).ok());
  auto got = table.Get(HashId("a"));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->ToItemNeighbors(), nb);
  EXPECT_FALSE(table.Apply("a", std::string_view("garbage")).ok());
  EXPECT_FALSE(table.Apply("z", std::string_view(EncodeItemNeighbors(nb))).ok());
  ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
  EXPECT_EQ(table.Get(HashId("a")), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

ItemNeighbors ListOf(const std::string& id, const std::vector<std::string>& neighbours,
                     double first_score = 0.9) {
  ItemNeighbors nb;
  nb.item_id = id;
  nb.item_key = HashId(id);
  nb.updated_ts_ms = 1000 + static_cast<int64_t>(neighbours.size());
  double score = first_score;
  for (size_t j = 0; j < neighbours.size(); ++j) {
    // Scores and counts no float holds exactly: the compact form must keep every bit.
    nb.neighbors.push_back({HashId(neighbours[j]), neighbours[j], score, 1.0 / 3.0 + j});
    score = score * 0.7 + 1e-17;
  }
  return nb;
}

// What Get() gives is what was put: keys, ids, scores, counts, order, the list's own
// id and time; through longer and shorter lists, an empty one, a tombstone, ids longer
// than std::string's inline buffer, and two lists sharing neighbours.
TEST(NeighborTableTest, ReturnsTheListsAsPut) {
  NeighborTable table;
  const std::string long_a = "an-item-id-well-past-fifteen-characters";
  std::vector<ItemNeighbors> put = {
      ListOf("a", {"b", "c", long_a + "-x", "d"}),
      ListOf(long_a, {"a", "b", "c"}, 12.25),
      ListOf("e", {}),
  };
  for (const ItemNeighbors& nb : put) table.Put(nb);
  const auto check = [&](const ItemNeighbors& want) {
    auto got = table.Get(want.item_key);
    ASSERT_NE(got, nullptr) << want.item_id;
    EXPECT_EQ(got->ToItemNeighbors(), want) << want.item_id;
    EXPECT_EQ(got->item_key(), want.item_key);
    EXPECT_EQ(got->item_id(), want.item_id);
    EXPECT_EQ(got->updated_ts_ms(), want.updated_ts_ms);
    ASSERT_EQ(got->size(), want.neighbors.size());
    for (size_t j = 0; j < want.neighbors.size(); ++j) {
      EXPECT_EQ(got->key(j), want.neighbors[j].item_key);
      EXPECT_EQ(got->id(j), want.neighbors[j].item_id);
      EXPECT_EQ(got->score(j), want.neighbors[j].score);
      EXPECT_EQ(got->count(j), want.neighbors[j].count);
    }
  };
  for (const ItemNeighbors& nb : put) check(nb);
  // Longer, then shorter, then a tombstone and back.
  put[0] = ListOf("a", {"d", "c", "b", long_a, "f", "g"}, 3.5);
  table.Put(put[0]);
  check(put[0]);
  check(put[1]);
  put[0] = ListOf("a", {"g"});
  ASSERT_TRUE(table.Apply("a", std::string_view(EncodeItemNeighbors(put[0]))).ok());
  check(put[0]);
  ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
  EXPECT_EQ(table.Get(HashId("a")), nullptr);
  check(put[1]);  // still names "a" as a neighbour
  table.Put(put[0]);
  for (const ItemNeighbors& nb : put) check(nb);
  EXPECT_EQ(table.size(), 3u);
  // The item key is HashId(item id) when the list does not give one.
  ItemNeighbors keyless = ListOf("h", {"a"});
  keyless.item_key = 0;
  table.Put(keyless);
  keyless.item_key = HashId("h");
  check(keyless);
}

// An empty id (a malformed neighbour) reads back empty and holds nothing.
TEST(NeighborTableTest, EmptyIdsReadBackEmpty) {
  NeighborTable table;
  ItemNeighbors nb = ListOf("a", {"b", "", "c"});
  nb.neighbors[1].item_key = 7;
  table.Put(nb);
  auto got = table.Get(HashId("a"));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->ToItemNeighbors(), nb);
  EXPECT_EQ(got->id(1), "");
  EXPECT_EQ(got->interned_id(1), nullptr);
  ASSERT_NE(got->interned_id(2), nullptr);
  EXPECT_EQ(*got->interned_id(2), "c");
  EXPECT_EQ(table.ids(), 3u);  // a b c
}

// An item's id is held once, however many lists name it, and freed when no list does:
// neither replaced lists, nor tombstones, nor a reader's copy leave ids behind.
TEST(NeighborTableTest, IdsNoListNamesAreReleased) {
  NeighborTable table;
  table.Put(ListOf("a", {"x", "y"}));
  table.Put(ListOf("b", {"y", "z", "a"}));
  EXPECT_EQ(table.ids(), 5u);  // a b x y z
  table.Put(ListOf("a", {"y"}));
  EXPECT_EQ(table.ids(), 4u);  // x gone
  // A reader's copy keeps its ids (valid views) until it lets go.
  std::shared_ptr<const NeighborList> held = table.Get(HashId("b"));
  ASSERT_TRUE(table.Apply("b", std::nullopt).ok());
  EXPECT_EQ(table.ids(), 4u);
  EXPECT_EQ(held->id(1), "z");
  held.reset();
  EXPECT_EQ(table.ids(), 2u);  // a y
  ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
  EXPECT_EQ(table.ids(), 0u);
  EXPECT_EQ(table.bytes(), 0u);
  // Churn: lists over ever new neighbours; what stays held is what the last lists name.
  for (int round = 0; round < 100; ++round) {
    std::vector<std::string> names;
    for (int j = 0; j < 20; ++j) names.push_back("n" + std::to_string(round * 20 + j));
    table.Put(ListOf("a", names));
    table.Put(ListOf("b", {names[0], "a"}));
  }
  EXPECT_EQ(table.ids(), 22u);  // a b and the last round's 20
  // Two ids of one hash key stay apart (a collision, forced).
  ItemNeighbors c = ListOf("c", {"p", "q"});
  c.neighbors[1].item_key = c.neighbors[0].item_key;
  table.Put(c);
  auto got = table.Get(HashId("c"));
  EXPECT_EQ(got->id(0), "p");
  EXPECT_EQ(got->id(1), "q");
  EXPECT_EQ(table.ids(), 25u);
  table.Put(ListOf("c", {}));
  got.reset();
  EXPECT_EQ(table.ids(), 23u);
}

// The tables' bytes: a longer list costs more, a shorter one gives bytes back, a tombstone
// all of them; an id costs once whatever the number of lists naming it; /metrics follows,
// and a table's destruction takes its share back.
TEST(NeighborTableTest, BytesFollowTheListsOnMetrics) {
  const auto metric = [] {
    const std::string text = SerializeMetrics();
    const std::string name = "streamrec_serving_table_bytes{table=\"neighbors\"} ";
    const size_t at = text.find(name);
    // Absent until the first table of the process registers the series.
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + name.size()));
  };
  const auto list = [](const std::string& id, int n) {
    ItemNeighbors nb;
    nb.item_id = id;
    for (int i = 0; i < n; ++i) {
      const std::string other = "neighbour-with-a-long-id-" + std::to_string(i);
      nb.neighbors.push_back({HashId(other), other, 1.0 / (i + 1), 1});
    }
    return EncodeItemNeighbors(nb);
  };
  const double before = metric();
  {
    NeighborTable table;
    EXPECT_EQ(table.bytes(), 0u);
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 10))).ok());
    const size_t ten = table.bytes();
    EXPECT_GT(ten, 10 * (NeighborList::kBytesPerNeighbor + 26));  // + the ids' strings
    EXPECT_EQ(metric() - before, static_cast<double>(ten));
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 100))).ok());
    const size_t hundred = table.bytes();
    EXPECT_GT(hundred, 5 * ten);
    // "b" names the same 100 ids: it costs its slots and its own id, not theirs again.
    ASSERT_TRUE(table.Apply("b", std::string_view(list("b", 100))).ok());
    const size_t second = table.bytes() - hundred;
    EXPECT_GE(second, 100 * NeighborList::kBytesPerNeighbor);
    EXPECT_LT(second, 100 * NeighborList::kBytesPerNeighbor + 512);
    EXPECT_LT(second, hundred / 2);
    // Shorter again: "a" and "b" name 10 ids between them (the first ten).
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 10))).ok());
    ASSERT_TRUE(table.Apply("b", std::string_view(list("b", 10))).ok());
    const size_t two_tens = table.bytes();
    EXPECT_LT(two_tens, 2 * ten);
    EXPECT_GT(two_tens, ten);
    ASSERT_TRUE(table.Apply("b", std::nullopt).ok());
    EXPECT_EQ(table.bytes(), ten);
    EXPECT_EQ(metric() - before, static_cast<double>(ten));
    ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
    EXPECT_EQ(table.bytes(), 0u);
    EXPECT_EQ(metric(), before);
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 10))).ok());
    EXPECT_EQ(table.bytes(), ten);
  }
  EXPECT_EQ(metric(), before);
}

TEST(StatsTableTest, TrendingOrderAndCap) {
  StatsTable table(/*top_n=*/3);
  auto put = [&](const std::string& id, double popularity) {
    ItemStats s;
    s.item_key = HashId(id);
    s.item_id = id;
    s.count = 1;
    s.popularity = popularity;
    ASSERT_TRUE(table.Apply(id, std::string_view(EncodeItemStats(s))).ok());
  };
  put("a", 1);
  put("b", 5);
  put("c", 5);
  put("d", 3);
  put("e", 0.5);
  EXPECT_TRUE(table.Snapshot()->trending.empty());
  table.Publish();
  auto snap = table.Snapshot();
  ASSERT_EQ(snap->trending.size(), 3u);
  EXPECT_EQ(snap->trending[0].item_id, "b");  // tie with c broken by id
  EXPECT_EQ(snap->trending[1].item_id, "c");
  EXPECT_EQ(snap->trending[2].item_id, "d");
  EXPECT_EQ(snap->trending[2].value, 3);
  EXPECT_EQ(snap->max_popularity, 5);
  put("e", 9);
  table.Publish();
  EXPECT_EQ(table.Snapshot()->trending[0].item_id, "e");
  EXPECT_EQ(snap->trending[0].item_id, "b");  // the old snapshot is unchanged
}

}  // namespace
}  // namespace streamrec::serving
