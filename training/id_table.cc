#include "training/id_table.h"

#include <cstddef>
#include <unordered_set>

namespace streamrec::training {

IdTable::IdTable(int64_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {
  free_rows_.reserve(static_cast<size_t>(capacity_));
  for (int64_t r = capacity_; r >= 1; --r) free_rows_.push_back(r);
}

IdTable::Lookup IdTable::LookupOrInsert(uint64_t key) {
  Lookup out;
  auto it = rows_.find(key);
  if (it != rows_.end()) {
    lru_.splice(lru_.end(), lru_, it->second.pos);
    out.row = it->second.row;
    return out;
  }
  out.fresh = true;
  if (!free_rows_.empty()) {
    out.row = free_rows_.back();
    free_rows_.pop_back();
  } else {
    const uint64_t victim = lru_.front();
    lru_.pop_front();
    auto vit = rows_.find(victim);
    out.row = vit->second.row;
    rows_.erase(vit);
    out.evicted = true;
    out.evicted_key = victim;
    ++evictions_;
  }
  lru_.push_back(key);
  rows_.emplace(key, Slot{out.row, std::prev(lru_.end())});
  return out;
}

int64_t IdTable::Find(uint64_t key) const {
  auto it = rows_.find(key);
  return it == rows_.end() ? 0 : it->second.row;
}

std::vector<std::pair<uint64_t, int64_t>> IdTable::Entries() const {
  std::vector<std::pair<uint64_t, int64_t>> out;
  out.reserve(rows_.size());
  for (uint64_t key : lru_) out.emplace_back(key, rows_.at(key).row);
  return out;
}

bool IdTable::Restore(const std::vector<std::pair<uint64_t, int64_t>>& entries) {
  lru_.clear();
  rows_.clear();
  free_rows_.clear();
  std::unordered_set<int64_t> used;
  for (const auto& [key, row] : entries) {
    if (row < 1 || row > capacity_ || !used.insert(row).second || rows_.count(key)) {
      lru_.clear();
      rows_.clear();
      used.clear();
      break;
    }
    lru_.push_back(key);
    rows_.emplace(key, Slot{row, std::prev(lru_.end())});
  }
  for (int64_t r = capacity_; r >= 1; --r) {
    if (!used.count(r)) free_rows_.push_back(r);
  }
  return rows_.size() == entries.size();
}

}  // namespace streamrec::training
