#include "serving/user_history.h"

#include <algorithm>

namespace streamrec::serving {

UserHistoryStore::UserHistoryStore(UserHistoryOptions options) : options_(options) {
  const size_t n = std::max<size_t>(1, options_.num_shards);
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

void UserHistoryStore::Record(uint64_t user_key, uint64_t item_key, std::string_view item_id,
                              int64_t ts_ms, EventType event) {
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
      it = shard.users.emplace(user_key, operators::UserWindow(options_.window)).first;
      num_users_.fetch_add(1, std::memory_order_relaxed);
    }
    operators::UserWindow& window = it->second;
    // The same steps as the user stage: evict relative to the event, note the window
    // before it (what a training example carries), then add.
    window.EvictOlderThan(ts_ms);
    recent.user_key = user_key;
    recent.history = window.entries();
    recent.item = HistoryEntry{item_key, std::string(item_id), ts_ms, event};
    window.Add(item_key, item_id, ts_ms, event);
  }
  int64_t seen = stream_time_ms_.load(std::memory_order_relaxed);
  while (ts_ms > seen &&
         !stream_time_ms_.compare_exchange_weak(seen, ts_ms, std::memory_order_relaxed)) {
  }
  MutexLock lock(&recent_mu_);
  recent_.push_back(std::move(recent));
  while (recent_.size() > kRecentCapacity) recent_.pop_front();
}

std::vector<HistoryEntry> UserHistoryStore::Get(uint64_t user_key, int64_t as_of_ms) const {
  Shard& shard = ShardFor(user_key);
  std::vector<HistoryEntry> out;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.users.find(user_key);
    if (it == shard.users.end()) return {};
    out = it->second.entries();
  }
  const int64_t horizon = options_.window.horizon_ms;
  if (horizon > 0 && as_of_ms > 0) {
    const int64_t cutoff = as_of_ms - horizon;
    out.erase(std::remove_if(out.begin(), out.end(),
                             [cutoff](const HistoryEntry& e) { return e.ts_ms < cutoff; }),
              out.end());
  }
  return out;
}

std::vector<UserHistoryStore::RecentEvent> UserHistoryStore::RecentEvents(
    size_t max_events) const {
  MutexLock lock(&recent_mu_);
  const size_t n = std::min(max_events, recent_.size());
  return std::vector<RecentEvent>(recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end());
}

}  // namespace streamrec::serving
