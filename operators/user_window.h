#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/records.h"
#include "core/status.h"

namespace streamrec::operators {

// Options of a user's history window (config `operators.window.*`). The ONE set of
// history rules of the system: the user stage builds co-occurrence pairs and training
// examples from this window, and serving answers requests from a window with the same
// options (serving/user_history.h), so what the model is trained on is what it is
// served with.
struct UserWindowOptions {
  // operators.window.size: at most this many distinct items are kept (the newest).
  size_t max_items = 20;
  // operators.window.horizon_s: items older than this, in EVENT time relative to the
  // newest event, are dropped. Default 1 hour. <= 0 means no time limit.
  int64_t horizon_ms = 3600 * 1000;

  // Reads operators.window.size (in [1, 10000]) and operators.window.horizon_s.
  static Result<UserWindowOptions> FromConfig(const Config& config);
};

// One item in a user's window.
struct WindowEntry {
  uint64_t item_key = 0;
  std::string item_id;
  int64_t ts_ms = 0;
  EventType event = EventType::kClick;

  friend bool operator==(const WindowEntry& a, const WindowEntry& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id && a.ts_ms == b.ts_ms &&
           a.event == b.event;
  }
};

// The last N distinct items a user acted on within T of event time, oldest first.
// Only event time is used (never the wall clock), so a replay gives the same windows.
// A repeated item moves to the newest position. Thread-compatible.
class UserWindow {
 public:
  explicit UserWindow(UserWindowOptions options = {}) : options_(options) {}

  // Drops entries older than `ts_ms - horizon` (entries exactly at the boundary stay).
  void EvictOlderThan(int64_t ts_ms);
  // Adds an event: evicts by time relative to ts_ms, removes an earlier occurrence of
  // the same item, appends, then trims to max_items (dropping the oldest).
  void Add(uint64_t item_key, std::string_view item_id, int64_t ts_ms, EventType event);

  const std::vector<WindowEntry>& entries() const { return entries_; }
  const UserWindowOptions& options() const { return options_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // Versioned binary encoding for the user stage's RocksDB store.
  std::string Serialize() const;
  static Result<UserWindow> Parse(std::string_view bytes, UserWindowOptions options);

 private:
  UserWindowOptions options_;
  std::vector<WindowEntry> entries_;
};

}  // namespace streamrec::operators
