#include "serving/user_history.h"

#include <algorithm>

namespace streamrec::serving {

UserHistoryStore::UserHistoryStore(UserHistoryOptions options) : options_(options) {
  const size_t n = std::max<size_t>(1, options_.num_shards);
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

void UserHistoryStore::Record(uint64_t user_key, uint64_t item_key, const std::string& item_id,
                              int64_t ts_ms) {
  RecentEvent recent;
  {
    Shard& shard = ShardFor(user_key);
    MutexLock lock(&shard.mu);
    auto it = shard.users.find(user_key);
    if (it == shard.users.end()) {
      const size_t per_shard = std::max<size_t>(1, options_.max_users / shards_.size());
      if (shard.users.size() >= per_shard) {
        shard.users.erase(shard.users.begin());
        num_users_.fetch_sub(1, std::memory_order_relaxed);
      }
      it = shard.users.emplace(user_key, std::deque<HistoryEntry>()).first;
      num_users_.fetch_add(1, std::memory_order_relaxed);
    }
    std::deque<HistoryEntry>& window = it->second;
    const int64_t newest = window.empty() ? ts_ms : std::max(window.back().ts_ms, ts_ms);
    if (options_.window_ms > 0 && ts_ms < newest - options_.window_ms) return;
    recent.user_key = user_key;
    recent.history.assign(window.begin(), window.end());
    HistoryEntry entry{item_key, item_id, ts_ms};
    recent.item = entry;
    // Keep the window ordered by event time (late events slot in place).
    auto pos = std::upper_bound(window.begin(), window.end(), ts_ms,
                                [](int64_t t, const HistoryEntry& e) { return t < e.ts_ms; });
    window.insert(pos, std::move(entry));
    while (window.size() > options_.window_size) window.pop_front();
    if (options_.window_ms > 0) {
      while (!window.empty() && window.front().ts_ms < newest - options_.window_ms) {
        window.pop_front();
      }
    }
  }
  MutexLock lock(&recent_mu_);
  recent_.push_back(std::move(recent));
  while (recent_.size() > kRecentCapacity) recent_.pop_front();
}

std::vector<HistoryEntry> UserHistoryStore::Get(uint64_t user_key) const {
  Shard& shard = ShardFor(user_key);
  MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_key);
  if (it == shard.users.end()) return {};
  return std::vector<HistoryEntry>(it->second.begin(), it->second.end());
}

std::vector<UserHistoryStore::RecentEvent> UserHistoryStore::RecentEvents(
    size_t max_events) const {
  MutexLock lock(&recent_mu_);
  const size_t n = std::min(max_events, recent_.size());
  return std::vector<RecentEvent>(recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end());
}

}  // namespace streamrec::serving
