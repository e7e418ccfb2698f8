#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "core/records.h"
#include "core/thread_annotations.h"
#include "operators/user_window.h"

namespace streamrec::serving {

// One item in a user's recent window: the user stage's window entry (one history, one
// set of rules: operators/user_window.h).
using HistoryEntry = operators::WindowEntry;

// One item in a user's long-term record of what they acted on (the seen filter's memory).
struct SeenItem {
  uint64_t item_key = 0;
  int64_t last_ts_ms = 0;  // event time of the newest event on it
  uint8_t events = 0;      // bit set of the event types seen on it: 1 << EventType

  bool Has(EventType type) const { return (events & EventBit(type)) != 0; }
  static uint8_t EventBit(EventType type) {
    return static_cast<uint8_t>(1u << static_cast<unsigned>(type));
  }

  friend bool operator==(const SeenItem& a, const SeenItem& b) {
    return a.item_key == b.item_key && a.last_ts_ms == b.last_ts_ms && a.events == b.events;
  }
};

struct UserHistoryOptions {
  // The window's rules: the user stage's own (config operators.window.*), so requests
  // are answered from the window the model was trained on.
  operators::UserWindowOptions window;
  // serving.seen.max_items: distinct items kept per user in the seen record (the newest
  // by last event time; an older one falls out and may be recommended again). Not cut
  // by the window's horizon: a purchase stays filtered after the session ends. 24 bytes
  // an item, so the default costs at most ~12 KiB a user. 0 keeps no record.
  size_t seen_max_items = 500;
  // Users kept in memory; beyond it the least recently active user of the same shard
  // is evicted (its window and seen record are dropped: it is served as a cold start
  // until its next click).
  size_t max_users = 1'000'000;
  // serving.user_state_mb: a bound on the bytes all users' windows and seen records take
  // (an estimate: the entries' capacity, item ids, map nodes, the recency order), split
  // evenly over the shards; past it the shard evicts its least recently active users. It
  // is what makes serving's memory a bound rather than a function of the users it has
  // seen (a seen record alone reaches ~12 KiB a user at the default max_items).
  // 0: no byte bound (max_users only).
  size_t max_bytes = size_t{512} << 20;
  size_t num_shards = 64;
};

// The recent-item windows of the users whose clicks this serving replica consumes
// (co-partitioned with rec-requests, DESIGN §2), kept in memory and rebuilt from the
// clicks topic on start: a thread-safe map of operators::UserWindow, fed exactly as the
// user stage feeds its windows, beside each user's seen record (the items acted on, by
// event type, beyond the window: what the seen filter drops and the long-term history
// recall reads). One consumer thread records; any thread reads.
class UserHistoryStore {
 public:
  explicit UserHistoryStore(UserHistoryOptions options = {});
  ~UserHistoryStore();
  UserHistoryStore(const UserHistoryStore&) = delete;
  UserHistoryStore& operator=(const UserHistoryStore&) = delete;

  // Adds an event to the user's window (UserWindow::Add: evicts by the horizon relative
  // to the event, moves a repeated item to the newest position, keeps the newest
  // `max_items`) and to the user's seen record (the item's event types, newest
  // `seen_max_items` items). Advances the store's stream time (the largest event time
  // recorded).
  void Record(uint64_t user_key, uint64_t item_key, std::string_view item_id, int64_t ts_ms,
              EventType event = EventType::kClick);
  // The user's window, oldest first; empty for an unknown user. With `as_of_ms` > 0 the
  // entries older than as_of_ms − horizon are left out too: the window the user stage
  // holds once an event at that time arrives (the prequential harness asks this way).
  // Not cut by other users' event times: a stream may mix times (a replayed history
  // beside live clicks), and one user's clock must not empty another's window.
  std::vector<HistoryEntry> Get(uint64_t user_key, int64_t as_of_ms = 0) const;
  // The window (as Get) and the seen record (oldest first, at most seen_max_items), read
  // under one lock.
  struct UserState {
    std::vector<HistoryEntry> window;
    std::vector<SeenItem> seen;
    // The user's history version: a store-wide sequence number taken by every Record()
    // for this user (so a user evicted and seen again never reuses one); 0 for an unknown
    // user. Equal versions mean the same window before the horizon cut (what the user
    // embedding cache keys on, serving/user_embedding_cache.h).
    uint64_t version = 0;
  };
  UserState GetUser(uint64_t user_key, int64_t as_of_ms = 0) const;
  size_t num_users() const { return num_users_.load(std::memory_order_relaxed); }
  // The estimated bytes of every user's state (what max_bytes bounds), and the users
  // evicted so far (by max_users or max_bytes). Also on /metrics:
  // streamrec_serving_user_state_bytes, streamrec_serving_users_evicted_total.
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t users_evicted() const { return evicted_.load(std::memory_order_relaxed); }
  // The largest event time recorded so far (0 before any).
  int64_t stream_time_ms() const { return stream_time_ms_.load(std::memory_order_relaxed); }
  const UserHistoryOptions& options() const { return options_; }

  // A sample of recent (window-before, item) events, newest last, for the model loader's
  // sanity score. At most `max_events`.
  struct RecentEvent {
    uint64_t user_key = 0;
    std::vector<HistoryEntry> history;  // the window before the event
    HistoryEntry item;
  };
  std::vector<RecentEvent> RecentEvents(size_t max_events) const;

 private:
  struct User {
    operators::UserWindow window;
    std::vector<SeenItem> seen;  // oldest first, distinct items
    uint64_t version = 0;        // UserState::version
    size_t bytes = 0;            // this user's share of Shard::bytes
  };
  // A user's place in its shard's recency order: the version its Record() took. An entry
  // whose version is no longer the user's is stale (the user was active since) and is
  // skipped when met.
  struct RecencyEntry {
    uint64_t user_key = 0;
    uint64_t version = 0;
  };
  struct Shard {
    mutable Mutex mu;
    std::unordered_map<uint64_t, User> users GUARDED_BY(mu);
    std::deque<RecencyEntry> recency GUARDED_BY(mu);  // oldest activity first
    size_t bytes GUARDED_BY(mu) = 0;                  // users' bytes + the recency order's
  };
  static size_t UserBytes(const User& user);
  // Evicts the shard's least recently active users while it holds more than its share of
  // max_users or max_bytes; never the last user left, so never the one just recorded
  // (its entry is the newest in the recency order).
  void EvictLocked(Shard& shard) EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Drops the recency order's stale entries once they outnumber the live ones.
  void CompactRecencyLocked(Shard& shard) EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  void CutHorizon(int64_t as_of_ms, std::vector<HistoryEntry>* window) const;
  void RecordSeen(uint64_t item_key, int64_t ts_ms, EventType event,
                  std::vector<SeenItem>* seen) const;
  Shard& ShardFor(uint64_t key) const { return *shards_[(key ^ (key >> 29)) % shards_.size()]; }

  const UserHistoryOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> num_users_{0};
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> evicted_{0};
  // The process-wide series this store adds its bytes and evictions to (every store of
  // the process sums into them; the destructor takes its bytes back).
  prometheus::Gauge* bytes_gauge_ = nullptr;
  prometheus::Counter* evicted_counter_ = nullptr;
  std::atomic<int64_t> stream_time_ms_{0};
  std::atomic<uint64_t> next_version_{1};

  mutable Mutex recent_mu_;
  std::deque<RecentEvent> recent_ GUARDED_BY(recent_mu_);
  static constexpr size_t kRecentCapacity = 1024;
};

}  // namespace streamrec::serving
