#include "operators/pair_counts.h"

namespace streamrec::operators {
namespace {

// splitmix64's finaliser: item keys are usually hashes already, but a caller's own
// small integers must not cluster.
inline uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr size_t kInitialIndexSlots = 1024;
constexpr size_t kInitialRowSlots = 8;

}  // namespace

PairCounts::PairCounts() : index_(kInitialIndexSlots, {0, kNone}) {}

uint32_t PairCounts::Find(uint64_t key) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = Mix(key) & mask;; i = (i + 1) & mask) {
    const auto& slot = index_[i];
    if (slot.second == kNone) return kNone;
    if (slot.first == key) return slot.second;
  }
}

uint32_t PairCounts::Insert(uint64_t key) {
  size_t mask = index_.size() - 1;
  for (size_t i = Mix(key) & mask;; i = (i + 1) & mask) {
    auto& slot = index_[i];
    if (slot.second != kNone) {
      if (slot.first == key) return slot.second;
      continue;
    }
    const auto idx = static_cast<uint32_t>(keys_.size());
    slot = {key, idx};
    keys_.push_back(key);
    rows_.emplace_back();
    if (keys_.size() * 10 > index_.size() * 7) GrowIndex();
    return idx;
  }
}

void PairCounts::GrowIndex() {
  std::vector<std::pair<uint64_t, uint32_t>> old(index_.size() * 2, {0, kNone});
  old.swap(index_);
  const size_t mask = index_.size() - 1;
  for (const auto& slot : old) {
    if (slot.second == kNone) continue;
    size_t i = Mix(slot.first) & mask;
    while (index_[i].second != kNone) i = (i + 1) & mask;
    index_[i] = slot;
  }
}

void PairCounts::GrowRow(RowTable* row) {
  std::vector<NeighborSlot> old(row->slots.empty() ? kInitialRowSlots : row->slots.size() * 2);
  old.swap(row->slots);
  const size_t mask = row->slots.size() - 1;
  for (const NeighborSlot& s : old) {
    if (s.b == kNone) continue;
    size_t i = Mix(s.b) & mask;
    while (row->slots[i].b != kNone) i = (i + 1) & mask;
    row->slots[i] = s;
  }
}

void PairCounts::Add(uint64_t a, uint64_t b, double weight) {
  const uint32_t ib = IndexOf(b);
  RowTable& row = rows_[IndexOf(a)];  // after IndexOf(b): rows_ may have grown
  if ((row.size + 1) * 10 > row.slots.size() * 7) GrowRow(&row);
  const size_t mask = row.slots.size() - 1;
  for (size_t i = Mix(ib) & mask;; i = (i + 1) & mask) {
    NeighborSlot& s = row.slots[i];
    if (s.b == ib) {
      s.count += weight;
      return;
    }
    if (s.b == kNone) {
      s.b = ib;
      s.count = 0.0 + weight;  // as `c += w` from 0, for bit-identical sums
      ++row.size;
      ++size_;
      return;
    }
  }
}

void PairCounts::AddAll(const std::vector<Increment>& increments) {
  for (const Increment& inc : increments) {
    // The home slot of b in a's row, where the probe starts (rows may grow in the adds
    // below, which only makes a prefetch useless, never wrong).
    const uint32_t ia = Find(inc.a), ib = Find(inc.b);
    if (ia == kNone || ib == kNone) continue;
    const RowTable& row = rows_[ia];
    if (!row.slots.empty()) __builtin_prefetch(&row.slots[Mix(ib) & (row.slots.size() - 1)]);
  }
  for (const Increment& inc : increments) Add(inc.a, inc.b, inc.weight);
}

std::vector<std::pair<uint64_t, double>> PairCounts::Row(uint64_t a) const {
  std::vector<std::pair<uint64_t, double>> out;
  const uint32_t ia = Find(a);
  if (ia == kNone) return out;
  const RowTable& row = rows_[ia];
  out.reserve(row.size);
  for (const NeighborSlot& s : row.slots) {
    if (s.b != kNone) out.emplace_back(keys_[s.b], s.count);
  }
  return out;
}

}  // namespace streamrec::operators
