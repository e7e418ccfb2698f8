#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "operators/cooccurrence.h"
#include "runtime/processor.h"
#include "operators/user_window.h"
#include "streams/topics.h"

namespace streamrec::operators {

// Options of the user stage, from the config (keys in operators/README.md).
struct UserStageOptions {
  UserWindowOptions window;  // operators.window.size, operators.window.horizon_s
  CoocOptions cooc;          // operators.weights.*, operators.cooc.half_life_s
  // operators.flush_interval_ms: pre-aggregated deltas are flushed (and the task
  // commits) this often in wall-clock time. Default 200.
  int64_t flush_interval_ms = 200;
  // operators.item_partitions: partitions of streamrec.cooc-deltas, i.e. of the item
  // stage. 0 (default) = ask the broker at start-up. Must equal the topic's count.
  int32_t item_partitions = 0;
  // operators.peer_count_interval_ms: how often the count deltas of the items other
  // item partitions own are sent to them (for their similarity denominators); the owner
  // gets its items' counts every flush. Default 5000.
  int64_t peer_count_interval_ms = 5000;
  // operators.max_pairs_per_message: pair deltas per cooc-deltas message. Default 4096.
  size_t max_pairs_per_message = 4096;
  // operators.training_examples: emit streamrec.training-examples. Default true.
  bool emit_training_examples = true;
  // operators.max_future_ms: a click whose ts is more than this ahead of the stage's wall
  // clock goes to the DLQ (bad_timestamp) instead of rewriting the user's window with a
  // time nothing can follow. Default one day; 0 = no check (the in-process evaluation,
  // whose clock stands still, replays history).
  int64_t max_future_ms = 86'400'000;
  TopicNames topics;

  static Result<UserStageOptions> FromConfig(const Config& config);
};

// Store names of the user stage.
inline constexpr char kWindowsStore[] = "windows";
// Count deltas waiting to be sent to the item partitions that do not own the item.
inline constexpr char kPeerCountsStore[] = "peer_counts";

// The user stage (DESIGN §2): consumes `clicks` (key user id). For each valid event it
// forms co-occurrence pairs with the user's window (kept in RocksDB), aggregates them in
// memory and, every flush interval (and before each commit), forwards them as
// CoocDeltaMessages to `streamrec.cooc-deltas`, partitioned by item; it forwards a
// TrainingExample (core/records.h) per event to `streamrec.training-examples` (key user
// id) and every rejected message, unchanged, to `clicks.dlq` with the reason in the
// `streamrec.reject.reason` header. Requires options.item_partitions >= 1.
runtime::Topology UserStageTopology(const UserStageOptions& options);

}  // namespace streamrec::operators
