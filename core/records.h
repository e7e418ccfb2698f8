#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec {

// Schemas of the internal topics that cross the operators → training → serving line.
// They live in core/ because training/ depends on core only (DESIGN §5). The wire
// format is a compact little-endian binary layout led by a format version byte, so a
// reader rejects what it cannot understand instead of misreading it. Thread-compatible.

// Event kinds of the `clicks` topic, in increasing order of intent.
enum class EventType : uint8_t { kView = 0, kClick = 1, kAddToCart = 2, kPurchase = 3 };

// "view", "click", "add_to_cart", "purchase".
const char* EventTypeName(EventType type);
// Parses the names above; false on anything else.
bool ParseEventType(std::string_view name, EventType* out);

// One training example on `streamrec.training-examples` (key: user id), emitted by the
// user stage for each accepted click: the user's window *before* the event, and the
// event's item as the positive.
struct TrainingExample {
  uint64_t user_key = 0;
  std::string user_id;
  uint64_t item_key = 0;        // the positive
  std::string item_id;
  EventType event = EventType::kClick;
  float weight = 1.0f;          // reward weight of the event type
  int64_t ts_ms = 0;            // event time
  std::vector<uint64_t> history_keys;  // oldest first, at most the window size
  std::vector<int64_t> history_ts_ms;  // same length as history_keys

  friend bool operator==(const TrainingExample& a, const TrainingExample& b) {
    return a.user_key == b.user_key && a.user_id == b.user_id && a.item_key == b.item_key &&
           a.item_id == b.item_id && a.event == b.event && a.weight == b.weight &&
           a.ts_ms == b.ts_ms && a.history_keys == b.history_keys &&
           a.history_ts_ms == b.history_ts_ms;
  }
};

std::string EncodeTrainingExample(const TrainingExample& example);
Result<TrainingExample> DecodeTrainingExample(std::string_view bytes);

// Per-item statistics on the compacted `streamrec.item-stats` table (key: item id),
// published by the item stage.
struct ItemStats {
  uint64_t item_key = 0;
  std::string item_id;
  double count = 0;            // weighted occurrence count
  double popularity = 0;       // exponentially decayed count (trending)
  double sampling_prob = 0;    // streaming estimate p̂ (DESIGN §4), 0 when unknown
  int64_t updated_ts_ms = 0;   // event time of the last update

  friend bool operator==(const ItemStats& a, const ItemStats& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id && a.count == b.count &&
           a.popularity == b.popularity && a.sampling_prob == b.sampling_prob &&
           a.updated_ts_ms == b.updated_ts_ms;
  }
};

std::string EncodeItemStats(const ItemStats& stats);
Result<ItemStats> DecodeItemStats(std::string_view bytes);

// One neighbour of an item under the configured similarity.
struct Neighbor {
  uint64_t item_key = 0;
  std::string item_id;
  double score = 0;   // similarity (count, cosine, Jaccard or lift)
  double count = 0;   // raw weighted co-occurrence count

  friend bool operator==(const Neighbor& a, const Neighbor& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id && a.score == b.score &&
           a.count == b.count;
  }
};

// An item's top-K neighbour list on the compacted `streamrec.item-neighbors` table
// (key: item id), best first, published by the item stage.
struct ItemNeighbors {
  uint64_t item_key = 0;
  std::string item_id;
  int64_t updated_ts_ms = 0;
  std::vector<Neighbor> neighbors;

  friend bool operator==(const ItemNeighbors& a, const ItemNeighbors& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id &&
           a.updated_ts_ms == b.updated_ts_ms && a.neighbors == b.neighbors;
  }
};

std::string EncodeItemNeighbors(const ItemNeighbors& neighbors);
Result<ItemNeighbors> DecodeItemNeighbors(std::string_view bytes);

}  // namespace streamrec
