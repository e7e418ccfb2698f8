#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

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
  // ⟨query, row⟩ for a query of dim() floats.
  float Dot(const float* query, size_t row) const;

 private:
  ItemEmbeddings() = default;
  int dim_ = 0;
  std::vector<std::string> ids_;
  std::vector<uint64_t> keys_;
  std::vector<float> values_;
  std::unordered_map<uint64_t, int64_t> row_of_;
};

struct EmbeddingIndexOptions {
  enum class Kind { kExact, kHnsw };
  // kExact: a full scan (dot product with every item; exact top-k). kHnsw: hnswlib's
  // HNSW graph over inner product (approximate; built at load time, so part of the swap).
  Kind kind = Kind::kExact;
  // HNSW graph degree, construction and search beam widths (hnswlib's M,
  // ef_construction, ef).
  int hnsw_m = 16;
  int hnsw_ef_construction = 100;
  int hnsw_ef_search = 100;
};

// Nearest items by inner product over an ItemEmbeddings. Search() is thread-safe
// (built once at load time, then read-only).
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
};

Result<std::unique_ptr<EmbeddingIndex>> NewEmbeddingIndex(
    std::shared_ptr<const ItemEmbeddings> embeddings, const EmbeddingIndexOptions& options);

}  // namespace streamrec::serving
