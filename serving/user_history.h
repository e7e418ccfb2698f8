#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"

namespace streamrec::serving {

// One item in a user's recent window.
struct HistoryEntry {
  uint64_t item_key = 0;
  std::string item_id;
  int64_t ts_ms = 0;

  friend bool operator==(const HistoryEntry& a, const HistoryEntry& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id && a.ts_ms == b.ts_ms;
  }
};

struct UserHistoryOptions {
  // Items kept per user (the newest).
  size_t window_size = 50;
  // Entries older than the user's newest event by more than this are dropped (event
  // time). 0 keeps everything within window_size.
  int64_t window_ms = 24LL * 3600 * 1000;
  // Users kept in memory; beyond it an arbitrary user of the same shard is evicted.
  size_t max_users = 1'000'000;
  size_t num_shards = 64;
};

// The recent-item windows of the users whose clicks this serving replica consumes
// (co-partitioned with rec-requests, DESIGN §2), kept in memory and rebuilt from the
// clicks topic on start. One consumer thread records; any thread reads. Thread-safe.
class UserHistoryStore {
 public:
  explicit UserHistoryStore(UserHistoryOptions options = {});

  // Appends an event to the user's window (events older than the window are ignored).
  void Record(uint64_t user_key, uint64_t item_key, const std::string& item_id, int64_t ts_ms);
  // The user's window, oldest first; empty for an unknown user.
  std::vector<HistoryEntry> Get(uint64_t user_key) const;
  size_t num_users() const { return num_users_.load(std::memory_order_relaxed); }

  // A sample of recent (window-before, item) events, newest last, for the model loader's
  // sanity score. At most `max_events`.
  struct RecentEvent {
    uint64_t user_key = 0;
    std::vector<HistoryEntry> history;  // the window before the event
    HistoryEntry item;
  };
  std::vector<RecentEvent> RecentEvents(size_t max_events) const;

 private:
  struct Shard {
    mutable Mutex mu;
    std::unordered_map<uint64_t, std::deque<HistoryEntry>> users GUARDED_BY(mu);
  };
  Shard& ShardFor(uint64_t key) const { return *shards_[(key ^ (key >> 29)) % shards_.size()]; }

  const UserHistoryOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> num_users_{0};

  mutable Mutex recent_mu_;
  std::deque<RecentEvent> recent_ GUARDED_BY(recent_mu_);
  static constexpr size_t kRecentCapacity = 1024;
};

}  // namespace streamrec::serving
