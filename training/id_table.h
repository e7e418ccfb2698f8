#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace streamrec::training {

// Maps 64-bit id keys (core/id_hash.h) to embedding rows 1..capacity; row 0 is reserved
// for "unknown". The table grows as new ids appear; when it is full, a new id takes the
// row of the least recently seen id (LRU: every LookupOrInsert counts as a sighting),
// and the caller re-initialises that row's parameters. No two live ids ever share a row
// (unlike a modulo hash). Used by the trainer's thread only; thread-compatible.
class IdTable {
 public:
  explicit IdTable(int64_t capacity);

  struct Lookup {
    int64_t row = 0;
    bool fresh = false;            // the row was just (re)assigned: re-initialise it
    bool evicted = false;          // an older id lost this row
    uint64_t evicted_key = 0;
  };

  // The row of `key`, assigning one if it is new; marks the key most recently seen.
  Lookup LookupOrInsert(uint64_t key);

  // The row of `key`, or 0 when unknown. Does not count as a sighting.
  int64_t Find(uint64_t key) const;

  int64_t capacity() const { return capacity_; }
  int64_t size() const { return static_cast<int64_t>(rows_.size()); }
  uint64_t evictions() const { return evictions_; }

  // (key, row) pairs, least recently seen first; Restore(Entries()) rebuilds the same
  // table, recency order included.
  std::vector<std::pair<uint64_t, int64_t>> Entries() const;
  // Replaces the contents. Returns false (and leaves the table empty) on a row outside
  // 1..capacity or a duplicate key or row.
  bool Restore(const std::vector<std::pair<uint64_t, int64_t>>& entries);

 private:
  struct Slot {
    int64_t row;
    std::list<uint64_t>::iterator pos;  // in lru_
  };
  int64_t capacity_;
  std::list<uint64_t> lru_;  // least recently seen at the front
  std::unordered_map<uint64_t, Slot> rows_;
  std::vector<int64_t> free_rows_;  // rows never used, popped from the back
  uint64_t evictions_ = 0;
};

}  // namespace streamrec::training
