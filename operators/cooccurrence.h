#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/records.h"
#include "core/status.h"
#include "operators/user_window.h"

namespace streamrec::operators {

// Weight of each event type (config `operators.weights.<event>`). Integers by default so
// that undecayed counts are exact in floating point.
struct EventWeights {
  double view = 1.0;
  double click = 1.0;
  double add_to_cart = 3.0;
  double purchase = 5.0;

  double Of(EventType type) const;
  static Result<EventWeights> FromConfig(const Config& config);
};

// How pairs are weighted (config `operators.cooc.*`).
struct CoocOptions {
  EventWeights weights;
  // operators.cooc.half_life_s: when > 0, a pair's weight is multiplied by
  // 0.5^((t_event - t_window_item) / half_life), so items far apart in event time count
  // less. 0 (default) turns decay off: counts are sums of event weights.
  double half_life_s = 0.0;
};

// Pairs formed by an event on `item` at `ts_ms` with every (distinct, different) item of
// the user's window before the event: calls emit(a, b, weight) for both (item, j) and
// (j, item), so pair counts are symmetric. The weight is the new event's weight, decayed
// by the time gap when a half-life is set. Pure; thread-safe.
void GeneratePairs(const std::vector<WindowEntry>& window_before, uint64_t item_key,
                   int64_t ts_ms, EventType event, const CoocOptions& options,
                   const std::function<void(uint64_t a, uint64_t b, double weight)>& emit);

// Change of one item's count carried by a delta message.
struct ItemCountDelta {
  uint64_t item_key = 0;
  double weight = 0;        // sum of event weights
  uint64_t occurrences = 0; // number of events (feeds the frequency estimator)
  int64_t last_ts_ms = 0;   // newest event time among them
};

// Pair deltas of one item a: (b, weight) for each neighbour b.
struct PairGroup {
  uint64_t item_key = 0;
  std::vector<std::pair<uint64_t, double>> neighbors;
};

// One message on `streamrec.cooc-deltas`: the pre-aggregated deltas of one flush of one
// user-stage partition for one item-stage partition. Every partition gets a first message
// per flush (carrying the flush's event count and total weight, so every partition's
// step counter follows the whole stream); the pair and count deltas of the items it owns;
// and, at most once per peer-count interval, the accumulated count deltas of the items
// OTHER partitions own ("peer counts", so each partition knows every item's count for
// similarity denominators, a little staler than its own). Large flushes are split into
// several messages; only the first carries flush totals and counts.
struct CoocDeltaMessage {
  int32_t num_item_partitions = 1;   // partitioning in force (ItemPartition)
  uint64_t flush_events = 0;         // events in the flush (0 in follow-up chunks)
  double flush_weight = 0;           // sum of their weights (0 in follow-up chunks)
  std::vector<std::pair<uint64_t, std::string>> ids;  // key -> external id, for output
  std::vector<ItemCountDelta> counts;       // items owned by the destination
  std::vector<ItemCountDelta> peer_counts;  // items owned by other partitions
  std::vector<PairGroup> pairs;      // only items a with ItemPartition(a) == destination
};

std::string EncodeCoocDeltaMessage(const CoocDeltaMessage& message);
Result<CoocDeltaMessage> DecodeCoocDeltaMessage(std::string_view bytes);

// The item-stage partition that owns an item: key mod partitions (HashId keys are
// uniform). The user stage routes by it and the item stage checks it.
inline int32_t ItemPartition(uint64_t item_key, int32_t num_partitions) {
  return num_partitions <= 1 ? 0 : static_cast<int32_t>(item_key % static_cast<uint64_t>(num_partitions));
}

// In-memory pre-aggregation of pair and count deltas between flushes (the user stage's
// cache: many events on the same pair become one delta). Thread-compatible; owned by a
// stage task's processing thread.
class CoocAggregator {
 public:
  void AddEvent(uint64_t item_key, std::string_view item_id, double weight, int64_t ts_ms);
  void AddPair(uint64_t a, uint64_t b, double weight);
  void NoteId(uint64_t key, std::string_view id);

  bool empty() const { return counts_.empty() && pairs_.empty(); }
  size_t pair_count() const { return num_pairs_; }
  uint64_t events() const { return events_; }

  // Splits the aggregate into messages per item partition (index = partition), at most
  // `max_pairs_per_message` pair deltas each, and clears it. Output is deterministic
  // (sorted by key). Every partition gets a first message when there were events; item
  // count deltas go to the item's owner only (peer counts are the caller's business:
  // `flush_counts`, if given, receives all of them).
  std::vector<std::vector<CoocDeltaMessage>> Drain(int32_t num_partitions,
                                                   size_t max_pairs_per_message = 4096,
                                                   std::vector<ItemCountDelta>* flush_counts = nullptr);

 private:
  std::unordered_map<uint64_t, ItemCountDelta> counts_;
  double weight_ = 0;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, double>> pairs_;
  std::unordered_map<uint64_t, std::string> ids_;
  size_t num_pairs_ = 0;
  uint64_t events_ = 0;
};

}  // namespace streamrec::operators
