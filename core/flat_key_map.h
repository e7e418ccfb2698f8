#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace streamrec {

// A hash map from 64-bit keys (core/id_hash.h keys, or any uint64_t) to values, for hot
// paths where std::unordered_map's node per entry costs an allocation and a cache miss
// per step of a bucket chain: the entries live in one vector in insertion order, and an
// open-addressing index (linear probing, power-of-two capacity, at most half full) holds
// each entry's position with 32 bits of its key, so a probe touches an entry only when
// those bits match. Iteration is in insertion order until an erase, which moves the last
// entry into the erased one's place. Growing and erasing invalidate pointers to values,
// as a vector's do. Thread-compatible: concurrent const use is safe.
template <typename V>
class FlatKeyMap {
 public:
  using Entry = std::pair<uint64_t, V>;

  FlatKeyMap() = default;
  explicit FlatKeyMap(size_t expected) { reserve(expected); }

  // Room for `n` entries without growing.
  void reserve(size_t n) {
    entries_.reserve(n);
    size_t want = 16;
    while (want < 2 * n) want *= 2;
    if (want > slots_.size()) Rehash(want);
  }

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Removes every entry; the index keeps its capacity (a map refilled every commit).
  void clear() {
    entries_.clear();
    for (IndexSlot& slot : slots_) slot = IndexSlot();
  }

  // The value of `key`, value-initialised and appended if absent.
  V& operator[](uint64_t key) {
    if (2 * (entries_.size() + 1) > slots_.size()) {
      Rehash(slots_.empty() ? 16 : 2 * slots_.size());
    }
    const uint32_t tag = TagOf(key);
    const size_t mask = slots_.size() - 1;
    for (size_t s = SlotOf(key);; s = (s + 1) & mask) {
      IndexSlot& slot = slots_[s];
      if (slot.pos == kEmpty) {
        slot = {static_cast<uint32_t>(entries_.size()), tag};
        entries_.emplace_back(key, V());
        return entries_.back().second;
      }
      if (slot.tag == tag && entries_[slot.pos].first == key) return entries_[slot.pos].second;
    }
  }

  // The value of `key`, or nullptr.
  const V* find(uint64_t key) const {
    const size_t i = PositionOf(key);
    return i == kNotFound ? nullptr : &entries_[i].second;
  }
  V* find(uint64_t key) {
    const size_t i = PositionOf(key);
    return i == kNotFound ? nullptr : &entries_[i].second;
  }
  bool contains(uint64_t key) const { return PositionOf(key) != kNotFound; }

  // Removes `key`; false when absent. The last entry takes the erased one's position.
  bool erase(uint64_t key) {
    const size_t s = SlotIndexOf(key);
    if (s == kNotFound) return false;
    const size_t pos = slots_[s].pos;
    RemoveSlot(s);
    const size_t last = entries_.size() - 1;
    if (pos != last) {
      slots_[SlotIndexOf(entries_[last].first)].pos = static_cast<uint32_t>(pos);
      entries_[pos] = std::move(entries_[last]);
    }
    entries_.pop_back();
    return true;
  }

  typename std::vector<Entry>::iterator begin() { return entries_.begin(); }
  typename std::vector<Entry>::iterator end() { return entries_.end(); }
  typename std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  typename std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  static constexpr size_t kNotFound = static_cast<size_t>(-1);
  struct IndexSlot {
    uint32_t pos = kEmpty;  // in entries_
    uint32_t tag = 0;       // TagOf(key)
  };

  // Keys may be small integers (tests) or already hashed: mix them anyway with a 64-bit
  // multiplicative hash; its high bits pick the slot, its low bits make the tag.
  static uint64_t Mix(uint64_t key) { return key * 0x9e3779b97f4a7c15ULL; }
  size_t SlotOf(uint64_t key) const { return static_cast<size_t>(Mix(key) >> shift_); }
  static uint32_t TagOf(uint64_t key) { return static_cast<uint32_t>(Mix(key)); }

  // The index of the slot holding `key`, or kNotFound.
  size_t SlotIndexOf(uint64_t key) const {
    if (slots_.empty()) return kNotFound;
    const uint32_t tag = TagOf(key);
    const size_t mask = slots_.size() - 1;
    for (size_t s = SlotOf(key);; s = (s + 1) & mask) {
      const IndexSlot& slot = slots_[s];
      if (slot.pos == kEmpty) return kNotFound;
      if (slot.tag == tag && entries_[slot.pos].first == key) return s;
    }
  }
  size_t PositionOf(uint64_t key) const {
    const size_t s = SlotIndexOf(key);
    return s == kNotFound ? kNotFound : slots_[s].pos;
  }

  // Empties slot `hole` and shifts later slots of its probe run back, so every key stays
  // reachable from its home slot without tombstones (linear probing's deletion).
  void RemoveSlot(size_t hole) {
    const size_t mask = slots_.size() - 1;
    for (size_t s = (hole + 1) & mask; slots_[s].pos != kEmpty; s = (s + 1) & mask) {
      const size_t home = SlotOf(entries_[slots_[s].pos].first);
      // The slot may move back to `hole` unless its home lies cyclically in (hole, s].
      const bool home_after_hole = ((home - hole - 1) & mask) < ((s - hole) & mask);
      if (!home_after_hole) {
        slots_[hole] = slots_[s];
        hole = s;
      }
    }
    slots_[hole] = IndexSlot();
  }

  void Rehash(size_t capacity) {
    slots_.assign(capacity, IndexSlot());
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    const size_t mask = capacity - 1;
    for (size_t i = 0; i < entries_.size(); ++i) {
      size_t s = SlotOf(entries_[i].first);
      while (slots_[s].pos != kEmpty) s = (s + 1) & mask;
      slots_[s] = {static_cast<uint32_t>(i), TagOf(entries_[i].first)};
    }
  }

  std::vector<Entry> entries_;
  std::vector<IndexSlot> slots_;
  int shift_ = 64;
};

}  // namespace streamrec
