#include "serving/embedding_index.h"

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

// n pseudo-random unit vectors in `dim` dimensions.
std::shared_ptr<const ItemEmbeddings> RandomUnitVectors(int n, int dim, uint64_t seed) {
  std::vector<std::string> ids;
  std::vector<float> values;
  uint64_t state = seed;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((state >> 40) % 2001) / 1000.0f - 1.0f;
  };
  for (int i = 0; i < n; ++i) {
    ids.push_back("i" + std::to_string(i));
    std::vector<float> v(static_cast<size_t>(dim));
    float norm = 0;
    for (float& x : v) {
      x = next();
      norm += x * x;
    }
    for (float x : v) values.push_back(x / std::sqrt(norm));
  }
  auto e = ItemEmbeddings::Create(std::move(ids), dim, std::move(values));
  EXPECT_TRUE(e.ok());
  return *e;
}

EmbeddingIndexOptions Hnsw(bool background) {
  EmbeddingIndexOptions o;
  o.kind = EmbeddingIndexOptions::Kind::kHnsw;
  o.hnsw_background_build = background;
  o.hnsw_build_threads = 2;
  return o;
}

// Hits are best first, ties by row, and carry the exact inner product.
void ExpectWellFormed(const ItemEmbeddings& e, const float* query,
                      const std::vector<EmbeddingIndex::Hit>& hits, size_t k) {
  ASSERT_EQ(hits.size(), k);
  for (size_t i = 0; i < hits.size(); ++i) {
    ASSERT_LT(hits[i].row, e.size());
    EXPECT_FLOAT_EQ(hits[i].score, e.Dot(query, hits[i].row));
    if (i > 0) {
      EXPECT_TRUE(hits[i - 1].score > hits[i].score ||
                  (hits[i - 1].score == hits[i].score && hits[i - 1].row < hits[i].row));
    }
  }
}

size_t Overlap(const std::vector<EmbeddingIndex::Hit>& a, const std::vector<EmbeddingIndex::Hit>& b) {
  size_t n = 0;
  for (const auto& x : a) {
    for (const auto& y : b) n += x.row == y.row ? 1 : 0;
  }
  return n;
}

TEST(EmbeddingIndexTest, ActiveKindFollowsOptions) {
  auto e = RandomUnitVectors(500, 8, 1);
  EmbeddingIndexOptions o;  // auto: exact below 20k items
  auto exact = NewEmbeddingIndex(e, o);
  ASSERT_TRUE(exact.ok());
  EXPECT_STREQ((*exact)->active_kind(), "exact");
  EXPECT_TRUE((*exact)->WaitUntilBuilt().ok());
  o.auto_hnsw_min_items = 500;
  o.hnsw_background_build = false;
  auto hnsw = NewEmbeddingIndex(e, o);
  ASSERT_TRUE(hnsw.ok());
  EXPECT_STREQ((*hnsw)->active_kind(), "hnsw");  // built before NewEmbeddingIndex returned
  EXPECT_TRUE((*hnsw)->WaitUntilBuilt().ok());
}

TEST(EmbeddingIndexTest, BackgroundBuildSwitchesToTheGraph) {
  auto e = RandomUnitVectors(3000, 16, 7);
  auto exact = NewEmbeddingIndex(e, {});
  auto index = NewEmbeddingIndex(e, Hnsw(true));
  ASSERT_TRUE(exact.ok() && index.ok());
  // While building, answers come from the exact scan; either way they are well formed.
  const float* query = e->row(42);
  const bool building = std::string((*index)->active_kind()) == "exact";
  auto early = (*index)->Search(query, 10);
  ExpectWellFormed(*e, query, early, 10);
  if (building) {
    auto truth = (*exact)->Search(query, 10);
    // The graph may have been published between active_kind() and Search().
    EXPECT_GE(Overlap(early, truth), 8u);
  }
  ASSERT_TRUE((*index)->WaitUntilBuilt().ok());
  EXPECT_STREQ((*index)->active_kind(), "hnsw");
  size_t found = 0;
  for (size_t q = 0; q < 20; ++q) {
    const float* v = e->row(q * 100 + 3);
    auto approx = (*index)->Search(v, 10);
    ExpectWellFormed(*e, v, approx, 10);
    found += Overlap(approx, (*exact)->Search(v, 10));
  }
  EXPECT_GE(found, 180u) << "recall@10 below 0.9";
  // Same graph as a foreground build with the same options: recall of the same order.
  auto foreground = NewEmbeddingIndex(e, Hnsw(false));
  ASSERT_TRUE(foreground.ok());
  EXPECT_STREQ((*foreground)->active_kind(), "hnsw");
}

TEST(EmbeddingIndexTest, SearchesDuringTheBackgroundBuildStayCorrect) {
  auto e = RandomUnitVectors(4000, 16, 11);
  auto index = NewEmbeddingIndex(e, Hnsw(true));
  ASSERT_TRUE(index.ok());
  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      size_t q = static_cast<size_t>(t);
      while (!stop.load()) {
        const float* v = e->row(q % e->size());
        ExpectWellFormed(*e, v, (*index)->Search(v, 20), 20);
        q += 37;
        searches.fetch_add(1);
      }
    });
  }
  EXPECT_TRUE((*index)->WaitUntilBuilt().ok());
  // A few more searches on the published graph before stopping.
  const size_t at_publish = searches.load();
  while (searches.load() < at_publish + 10) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_STREQ((*index)->active_kind(), "hnsw");
}

TEST(EmbeddingIndexTest, ReleasingTheIndexStopsItsBuild) {
  // 20k items: the build is far from done when the index is destroyed; the destructor
  // cancels and joins it (a hang or a use-after-free fails this test under ctest's
  // timeout or the sanitizers).
  auto e = RandomUnitVectors(20000, 32, 3);
  for (int i = 0; i < 3; ++i) {
    auto index = NewEmbeddingIndex(e, Hnsw(true));
    ASSERT_TRUE(index.ok());
    ExpectWellFormed(*e, e->row(5), (*index)->Search(e->row(5), 5), 5);
  }
  // The embeddings outlive nothing but this test: the index held its own reference.
  EXPECT_EQ(e.use_count(), 1);
}

TEST(EmbeddingIndexTest, BadHnswParametersAreRefusedBeforeAnyBuild) {
  auto e = RandomUnitVectors(100, 4, 5);
  EmbeddingIndexOptions o = Hnsw(true);
  o.hnsw_m = 1;
  EXPECT_EQ(NewEmbeddingIndex(e, o).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace streamrec::serving
