#include "operators/similarity.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/byte_codec.h"

namespace streamrec::operators {
namespace {
constexpr uint8_t kTopKFormat = 1;
}  // namespace

const char* SimilarityName(Similarity s) {
  switch (s) {
    case Similarity::kCount: return "count";
    case Similarity::kCosine: return "cosine";
    case Similarity::kJaccard: return "jaccard";
    case Similarity::kLift: return "lift";
  }
  return "count";
}

Result<Similarity> ParseSimilarity(std::string_view name) {
  if (name == "count") return Similarity::kCount;
  if (name == "cosine") return Similarity::kCosine;
  if (name == "jaccard") return Similarity::kJaccard;
  if (name == "lift") return Similarity::kLift;
  return Status::InvalidArgument("unknown similarity '" + std::string(name) +
                                 "' (expected count, cosine, jaccard or lift)");
}

double SimilarityScore(Similarity s, double c_ab, double c_a, double c_b, double total) {
  switch (s) {
    case Similarity::kCount:
      return c_ab;
    case Similarity::kCosine: {
      const double d = c_a * c_b;
      return d > 0 ? c_ab / std::sqrt(d) : 0.0;
    }
    case Similarity::kJaccard: {
      const double d = c_a + c_b - c_ab;
      return d > 0 ? c_ab / d : 0.0;
    }
    case Similarity::kLift: {
      const double d = c_a * c_b;
      return d > 0 ? c_ab * total / d : 0.0;
    }
  }
  return 0.0;
}

bool NeighborBefore(const Neighbor& x, const Neighbor& y) {
  if (x.score != y.score) return x.score > y.score;
  return x.item_key < y.item_key;
}

void TopKList::Update(const std::vector<uint64_t>& changed,
                      const std::function<Neighbor(uint64_t)>& score_of) {
  // Members are distinct; a changed key that is a member is scored once (a sorted copy of
  // the member keys instead of a hash set: this runs for every dirty item every commit).
  std::vector<uint64_t> members;
  members.reserve(list_.size());
  for (const auto& n : list_) members.push_back(n.item_key);
  std::sort(members.begin(), members.end());
  std::vector<Neighbor> all;
  all.reserve(list_.size() + changed.size());
  auto consider = [&](uint64_t key) {
    Neighbor n = score_of(key);
    n.item_key = key;
    if (n.count > 0) all.push_back(n);
  };
  for (uint64_t key : members) consider(key);
  const bool sorted_unique = std::adjacent_find(changed.begin(), changed.end(), std::greater_equal<uint64_t>()) ==
                             changed.end();
  std::vector<uint64_t> copy;
  if (!sorted_unique) {
    copy = changed;
    std::sort(copy.begin(), copy.end());
    copy.erase(std::unique(copy.begin(), copy.end()), copy.end());
  }
  for (uint64_t key : sorted_unique ? changed : copy) {
    if (!std::binary_search(members.begin(), members.end(), key)) consider(key);
  }
  Rebuild(std::move(all));
}

void TopKList::Rebuild(std::vector<Neighbor> all) {
  if (all.size() > k_) {
    std::partial_sort(all.begin(), all.begin() + static_cast<long>(k_), all.end(), NeighborBefore);
    all.resize(k_);
  } else {
    std::sort(all.begin(), all.end(), NeighborBefore);
  }
  list_ = std::move(all);
}

std::string TopKList::Serialize() const {
  ByteWriter w;
  w.Put<uint8_t>(kTopKFormat);
  w.Put<uint32_t>(static_cast<uint32_t>(list_.size()));
  for (const auto& n : list_) {
    w.Put<uint64_t>(n.item_key);
    w.Put<double>(n.score);
    w.Put<double>(n.count);
  }
  return w.Take();
}

Result<TopKList> TopKList::Parse(std::string_view bytes, size_t k) {
  ByteReader r(bytes);
  uint8_t format = 0;
  uint32_t n = 0;
  if (!r.Get(&format) || format != kTopKFormat) return Status::Corruption("top-k: unknown format");
  if (!r.Get(&n) || n > bytes.size() / 24 + 1) return Status::Corruption("top-k: bad length");
  TopKList out(k);
  std::vector<Neighbor> all(n);
  for (auto& x : all) {
    if (!r.Get(&x.item_key) || !r.Get(&x.score) || !r.Get(&x.count)) {
      return Status::Corruption("top-k: truncated");
    }
  }
  if (!r.AtEnd()) return Status::Corruption("top-k: trailing bytes");
  out.Rebuild(std::move(all));
  return out;
}

Result<std::vector<Neighbor>> ExactTopK(Similarity s, size_t k, double c_a, double total,
                                        const std::vector<std::pair<uint64_t, double>>& row,
                                        const std::function<Result<double>(uint64_t)>& count_of) {
  std::vector<Neighbor> all;
  all.reserve(row.size());
  for (const auto& [b, c_ab] : row) {
    if (c_ab <= 0) continue;
    auto c_b = count_of(b);
    if (!c_b.ok()) return c_b.status();
    Neighbor n;
    n.item_key = b;
    n.count = c_ab;
    n.score = SimilarityScore(s, c_ab, c_a, *c_b, total);
    all.push_back(n);
  }
  TopKList list(k);
  list.Rebuild(std::move(all));
  return list.neighbors();
}

}  // namespace streamrec::operators
