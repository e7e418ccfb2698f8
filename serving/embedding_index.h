#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/flat_key_map.h"
#include "core/status.h"

namespace streamrec::serving {

// A model's item embeddings: one row of `dim` floats per item, in a contiguous
// row-major array, with the item ids. Immutable after Create(); thread-safe to read.
class ItemEmbeddings {
 public:
  // Validates shapes (ids.size() * dim == values.size(), dim > 0), unique non-empty ids
  // and finite values.
  static Result<std::shared_ptr<const ItemEmbeddings>> Create(std::vector<std::string> ids,
                                                              int dim,
                                                              std::vector<float> values);

  int dim() const { return dim_; }
  size_t size() const { return ids_.size(); }
  const std::string& id(size_t row) const { return ids_[row]; }
  uint64_t key(size_t row) const { return keys_[row]; }
  const float* row(size_t row) const { return values_.data() + row * static_cast<size_t>(dim_); }
  // The row of an item key, or -1.
  int64_t Find(uint64_t item_key) const;
  // ⟨query, row⟩ for a query of dim() floats. Inline: the exact index's scan calls it
  // once per item.
  float Dot(const float* query, size_t r) const { return DotProduct(query, row(r), dim_); }

  // ⟨a, b⟩ over n floats, with 4-wide vectors (GCC/Clang vector extensions, so SSE or
  // NEON without -ffast-math) and four independent accumulators.
  static float DotProduct(const float* a, const float* b, int n) {
    typedef float V4 __attribute__((vector_size(16)));
    V4 acc0 = {0, 0, 0, 0}, acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      V4 x0, x1, x2, x3, y0, y1, y2, y3;
      std::memcpy(&x0, a + i, 16);
      std::memcpy(&x1, a + i + 4, 16);
      std::memcpy(&x2, a + i + 8, 16);
      std::memcpy(&x3, a + i + 12, 16);
      std::memcpy(&y0, b + i, 16);
      std::memcpy(&y1, b + i + 4, 16);
      std::memcpy(&y2, b + i + 8, 16);
      std::memcpy(&y3, b + i + 12, 16);
      acc0 += x0 * y0;
      acc1 += x1 * y1;
      acc2 += x2 * y2;
      acc3 += x3 * y3;
    }
    const V4 acc = (acc0 + acc1) + (acc2 + acc3);
    float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
  }
 private:
  ItemEmbeddings() = default;
  int dim_ = 0;
  std::vector<std::string> ids_;
  std::vector<uint64_t> keys_;
  std::vector<float> values_;
  FlatKeyMap<int64_t> row_of_;  // flat: Find runs for every candidate of a request
};

struct EmbeddingIndexOptions {
  enum class Kind { kAuto, kExact, kHnsw };
  // kExact: a full scan (every item scored; exact top-k) — it reads the whole matrix
  // per request (12.8 MB at 100k items × 64 dims with the int16 pre-scan, 25.6 MB in
  // float), so it suits small catalogues.
  // kHnsw: hnswlib's HNSW graph over inner product (approximate; built at load time, so
  // part of the swap). kAuto: exact below `auto_hnsw_min_items`, HNSW from there on.
  Kind kind = Kind::kAuto;
  size_t auto_hnsw_min_items = 20000;
  // The exact scan first reads an int16 copy of the matrix and scores in float only the
  // rows a guaranteed error bound cannot exclude (same answers as the plain float scan;
  // embedding_index.cc says why); false: every row in float (the reference).
  bool exact_int16_prescan = true;
  // Threads adding points to the HNSW graph.
  int hnsw_build_threads = 2;
  // Build the HNSW graph after the swap instead of before it: the index answers with the
  // exact scan at once and switches to the graph when it is complete (a 100k-item graph
  // takes tens of seconds on 2 cores, the exact scan a few milliseconds per query), so a
  // new version starts serving as soon as it is validated. false: the graph is built in
  // NewEmbeddingIndex (the swap waits for it).
  bool hnsw_background_build = true;
  // Nice increment of the background build's threads (Linux; 0 = same priority as the
  // serving threads), so the build takes the CPU that requests leave idle.
  int hnsw_background_nice = 10;
  // HNSW graph degree, construction and search beam widths (hnswlib's M,
  // ef_construction, ef).
  int hnsw_m = 16;
  int hnsw_ef_construction = 100;
  int hnsw_ef_search = 100;
};

// Nearest items by inner product over an ItemEmbeddings. Search() is thread-safe
// (built once, then read-only; a background HNSW build is published atomically, and the
// index's destructor stops and joins it).
class EmbeddingIndex {
 public:
  struct Hit {
    size_t row = 0;
    float score = 0;  // inner product
  };
  virtual ~EmbeddingIndex() = default;
  // Up to k rows with the largest inner product with `query` (dim floats), best first;
  // ties by row.
  virtual std::vector<Hit> Search(const float* query, size_t k) const = 0;
  // The search answering now: "exact" or "hnsw" (a background build answers "exact"
  // until its graph is complete).
  virtual const char* active_kind() const = 0;
  // Blocks until a background build has finished and returns its outcome (on an error
  // the exact scan keeps answering). Ok at once when nothing is being built.
  virtual Status WaitUntilBuilt() const { return Status::Ok(); }
};

Result<std::unique_ptr<EmbeddingIndex>> NewEmbeddingIndex(
    std::shared_ptr<const ItemEmbeddings> embeddings, const EmbeddingIndexOptions& options);

}  // namespace streamrec::serving
