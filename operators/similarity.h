#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/records.h"
#include "core/status.h"

namespace streamrec::operators {

// Item-item similarity from co-occurrence counts (config `operators.similarity`).
enum class Similarity { kCount, kCosine, kJaccard, kLift };

const char* SimilarityName(Similarity s);
// "count", "cosine", "jaccard", "lift"; InvalidArgument on anything else.
Result<Similarity> ParseSimilarity(std::string_view name);

// Score of neighbour b for item a from c_ab (pair count), c_a, c_b (item counts) and the
// total of all item counts (for lift):
//   count   = c_ab
//   cosine  = c_ab / sqrt(c_a * c_b)
//   jaccard = c_ab / (c_a + c_b - c_ab)
//   lift    = c_ab * total / (c_a * c_b)
// 0 whenever a denominator is not positive. Pure; thread-safe.
double SimilarityScore(Similarity s, double c_ab, double c_a, double c_b, double total);

// Top-K lists hold core/records.h `Neighbor`s; in the store item_id is left empty (the
// ids live in the item stage's "ids" store) and filled in when a list is published.

// Ranking order: score descending, then item key ascending (deterministic ties).
bool NeighborBefore(const Neighbor& x, const Neighbor& y);

// The top-K neighbours of one item, best first. Thread-compatible.
class TopKList {
 public:
  explicit TopKList(size_t k = 20) : k_(k) {}

  // Rescores the current members and `changed` candidates with `score_of` (which returns
  // the neighbour with its fresh score and count; count <= 0 drops it), then keeps the
  // best k. This is how the item stage keeps lists current: a neighbour outside the list
  // can only enter when its own pair count changes, which makes it a candidate.
  void Update(const std::vector<uint64_t>& changed,
              const std::function<Neighbor(uint64_t neighbor_key)>& score_of);
  // Replaces the list with the best k of `all` (the exact recomputation).
  void Rebuild(std::vector<Neighbor> all);

  const std::vector<Neighbor>& neighbors() const { return list_; }
  size_t k() const { return k_; }

  std::string Serialize() const;
  static Result<TopKList> Parse(std::string_view bytes, size_t k);

 private:
  size_t k_;
  std::vector<Neighbor> list_;
};

// The exact top-k list of item a (count c_a): every neighbour b of `row` (b, c_ab) with
// c_ab > 0 scored from the given counts (`count_of(b)` = c_b), ranked and cut as the
// item stage's TopKList ranks. The batch view's lists and the item stage's rebuild after
// a lambda re-base. `count_of` may fail: its Status is returned.
Result<std::vector<Neighbor>> ExactTopK(Similarity s, size_t k, double c_a, double total,
                                        const std::vector<std::pair<uint64_t, double>>& row,
                                        const std::function<Result<double>(uint64_t)>& count_of);

}  // namespace streamrec::operators
