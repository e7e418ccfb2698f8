#include "serving/embedding_index.h"

#include <algorithm>
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

size_t Overlap(const std::vector<EmbeddingIndex::Hit>& a,
               const std::vector<EmbeddingIndex::Hit>& b) {
  size_t n = 0;
  for (const auto& x : a) {
    for (const auto& y : b) n += x.row == y.row ? 1 : 0;
  }
  return n;
}

// Every item scored in float, the best k, ties by row: what the exact index must return.
std::vector<EmbeddingIndex::Hit> BruteForce(const ItemEmbeddings& e, const float* query, size_t k) {
  std::vector<EmbeddingIndex::Hit> all;
  for (size_t r = 0; r < e.size(); ++r) all.push_back({r, e.Dot(query, r)});
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.score != b.score ? a.score > b.score : a.row < b.row;
  });
  all.resize(std::min(k, all.size()));
  return all;
}

void ExpectSameAnswer(const std::vector<EmbeddingIndex::Hit>& got,
                      const std::vector<EmbeddingIndex::Hit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].row, want[i].row) << "rank " << i;
    EXPECT_EQ(got[i].score, want[i].score) << "rank " << i;
  }
}

// The exact index reads an int8 copy first and scores only the rows its error bound
// cannot exclude: its answers must be the plain float scan's, to the row and the bit,
// for dimensions that are and are not multiples of 16, rows of very different norms,
// duplicated rows (ties), all-zero and denormal-small rows, and a zero query.
TEST(EmbeddingIndexTest, ExactIndexEqualsTheFloatScan) {
  for (int dim : {3, 16, 17, 64}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    auto base = RandomUnitVectors(3000, dim, 100 + static_cast<uint64_t>(dim));
    std::vector<std::string> ids;
    std::vector<float> values;
    for (size_t r = 0; r < base->size(); ++r) {
      ids.push_back(base->id(r));
      // Norms from 1e-3 to 1e3; every 50th row a copy of the previous one (ties); a few
      // all-zero rows and rows too small to quantise.
      const size_t src = r % 50 == 49 ? r - 1 : r;
      const float norm = std::pow(10.0f, static_cast<float>(src % 7) - 3.0f);
      for (int i = 0; i < dim; ++i) {
        float v = base->row(src)[i] * norm;
        if (r % 997 == 5) v = 0;
        if (r % 997 == 6) v = base->row(r)[i] * 1e-35f;
        values.push_back(v);
      }
    }
    auto e = ItemEmbeddings::Create(std::move(ids), dim, std::move(values));
    ASSERT_TRUE(e.ok());
    for (bool prescan : {true, false}) {
      SCOPED_TRACE(prescan ? "int16 pre-scan" : "plain float scan");
      EmbeddingIndexOptions o;
      o.kind = EmbeddingIndexOptions::Kind::kExact;
      o.exact_int16_prescan = prescan;
      auto index = NewEmbeddingIndex(*e, o);
      ASSERT_TRUE(index.ok());
      for (size_t q = 0; q < 30; ++q) {
        std::vector<float> query(base->row(q * 97 % base->size()),
                                 base->row(q * 97 % base->size()) + dim);
        if (q % 3 == 1) {
          for (float& x : query) x *= 1e4f;
        }
        for (size_t k : {1, 10, 120, 800}) {
          SCOPED_TRACE("query " + std::to_string(q) + " k " + std::to_string(k));
          ExpectSameAnswer((*index)->Search(query.data(), k), BruteForce(**e, query.data(), k));
        }
      }
      const std::vector<float> zero(static_cast<size_t>(dim), 0.0f);
      ExpectSameAnswer((*index)->Search(zero.data(), 20), BruteForce(**e, zero.data(), 20));
      EXPECT_EQ((*index)->Search(zero.data(), 5000).size(), 3000u);
    }
  }
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
