#include "serving/global_tables.h"

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
  EXPECT_EQ(*got, nb);
  EXPECT_FALSE(table.Apply("a", std::string_view("garbage")).ok());
  EXPECT_FALSE(table.Apply("z", std::string_view(EncodeItemNeighbors(nb))).ok());
  ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
  EXPECT_EQ(table.Get(HashId("a")), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

// The tables' bytes: a longer list costs more, a shorter one gives bytes back, a tombstone
// all of them; /metrics follows, and a table's destruction takes its share back.
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
    EXPECT_GT(ten, 10 * sizeof(Neighbor));
    EXPECT_EQ(metric() - before, static_cast<double>(ten));
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 100))).ok());
    const size_t hundred = table.bytes();
    EXPECT_GT(hundred, 5 * ten);
    ASSERT_TRUE(table.Apply("b", std::string_view(list("b", 10))).ok());
    EXPECT_EQ(table.bytes(), hundred + ten);
    ASSERT_TRUE(table.Apply("a", std::string_view(list("a", 10))).ok());
    EXPECT_EQ(table.bytes(), 2 * ten);
    ASSERT_TRUE(table.Apply("a", std::nullopt).ok());
    EXPECT_EQ(table.bytes(), ten);
    EXPECT_EQ(metric() - before, static_cast<double>(ten));
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
