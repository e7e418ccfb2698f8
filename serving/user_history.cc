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
      it = shard.users.emplace(user_key, User{operators::UserWindow(options_.window), {}}).first;
      num_users_.fetch_add(1, std::memory_order_relaxed);
    }
    operators::UserWindow& window = it->second.window;
    // The same steps as the user stage: evict relative to the event, note the window
    // before it (what a training example carries), then add.
    window.EvictOlderThan(ts_ms);
    recent.user_key = user_key;
    recent.history = window.entries();
    recent.item = HistoryEntry{item_key, std::string(item_id), ts_ms, event};
    window.Add(item_key, item_id, ts_ms, event);
    RecordSeen(item_key, ts_ms, event, &it->second.seen);
    it->second.version = next_version_.fetch_add(1, std::memory_order_relaxed);
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
    out = it->second.window.entries();
  }
  CutHorizon(as_of_ms, &out);
  return out;
}

UserHistoryStore::UserState UserHistoryStore::GetUser(uint64_t user_key, int64_t as_of_ms) const {
  Shard& shard = ShardFor(user_key);
  UserState out;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.users.find(user_key);
    if (it == shard.users.end()) return out;
    out.window = it->second.window.entries();
    out.seen = it->second.seen;
    out.version = it->second.version;
  }
  CutHorizon(as_of_ms, &out.window);
  return out;
}

void UserHistoryStore::CutHorizon(int64_t as_of_ms, std::vector<HistoryEntry>* window) const {
  const int64_t horizon = options_.window.horizon_ms;
  if (horizon > 0 && as_of_ms > 0) {
    const int64_t cutoff = as_of_ms - horizon;
    window->erase(std::remove_if(window->begin(), window->end(),
                                 [cutoff](const HistoryEntry& e) { return e.ts_ms < cutoff; }),
                  window->end());
  }
}

void UserHistoryStore::RecordSeen(uint64_t item_key, int64_t ts_ms, EventType event,
                                  std::vector<SeenItem>* seen) const {
  if (options_.seen_max_items == 0) return;
  // Newest last: an item acted on again moves to the end, keeping every event type seen
  // on it. Linear in the record (a few hundred entries), no per-item allocation.
  SeenItem item{item_key, ts_ms, SeenItem::EventBit(event)};
  for (auto it = seen->begin(); it != seen->end(); ++it) {
    if (it->item_key != item_key) continue;
    item.events |= it->events;
    item.last_ts_ms = std::max(ts_ms, it->last_ts_ms);
    seen->erase(it);
    break;
  }
  // Events come in (nearly) time order; an out-of-order one goes where its time says.
  auto pos = seen->end();
  while (pos != seen->begin() && std::prev(pos)->last_ts_ms > item.last_ts_ms) --pos;
  seen->insert(pos, item);
  if (seen->size() > options_.seen_max_items) {
    const size_t drop = seen->size() - options_.seen_max_items;
    seen->erase(seen->begin(), seen->begin() + static_cast<std::ptrdiff_t>(drop));
  }
}

std::vector<UserHistoryStore::RecentEvent> UserHistoryStore::RecentEvents(
    size_t max_events) const {
  MutexLock lock(&recent_mu_);
  const size_t n = std::min(max_events, recent_.size());
  return std::vector<RecentEvent>(recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end());
}

}  // namespace streamrec::serving
