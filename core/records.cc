#include "core/records.h"

#include <cstring>

#include "core/byte_codec.h"

namespace streamrec {
namespace {

constexpr uint8_t kTrainingExampleFormat = 1;
constexpr uint8_t kItemStatsFormat = 1;
constexpr uint8_t kItemNeighborsFormat = 1;
// Bounds that keep a corrupt length field from allocating gigabytes.
constexpr uint32_t kMaxStringBytes = 1 << 16;
constexpr uint32_t kMaxHistory = 1 << 16;

}  // namespace

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kView: return "view";
    case EventType::kClick: return "click";
    case EventType::kAddToCart: return "add_to_cart";
    case EventType::kPurchase: return "purchase";
  }
  return "unknown";
}

bool ParseEventType(std::string_view name, EventType* out) {
  if (name == "view") *out = EventType::kView;
  else if (name == "click") *out = EventType::kClick;
  else if (name == "add_to_cart") *out = EventType::kAddToCart;
  else if (name == "purchase") *out = EventType::kPurchase;
  else return false;
  return true;
}

std::string EncodeTrainingExample(const TrainingExample& e) {
  ByteWriter w;
  w.Put<uint8_t>(kTrainingExampleFormat);
  w.Put(e.user_key);
  w.PutString(e.user_id);
  w.Put(e.item_key);
  w.PutString(e.item_id);
  w.Put<uint8_t>(static_cast<uint8_t>(e.event));
  w.Put(e.weight);
  w.Put(e.ts_ms);
  const uint32_t n = static_cast<uint32_t>(e.history_keys.size());
  w.Put(n);
  for (uint32_t i = 0; i < n; ++i) {
    w.Put(e.history_keys[i]);
    w.Put(i < e.history_ts_ms.size() ? e.history_ts_ms[i] : int64_t{0});
  }
  return w.Take();
}

Result<TrainingExample> DecodeTrainingExample(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  if (!r.Get(&format)) return Status::Corruption("training example: empty");
  if (format != kTrainingExampleFormat) {
    return Status::Corruption("training example: unknown format " + std::to_string(format));
  }
  TrainingExample e;
  uint8_t event = 0;
  uint32_t n = 0;
  if (!r.Get(&e.user_key) || !r.GetString(&e.user_id, kMaxStringBytes) || !r.Get(&e.item_key) ||
      !r.GetString(&e.item_id, kMaxStringBytes) || !r.Get(&event) || !r.Get(&e.weight) || !r.Get(&e.ts_ms) ||
      !r.Get(&n)) {
    return Status::Corruption("training example: truncated header");
  }
  if (event > static_cast<uint8_t>(EventType::kPurchase)) {
    return Status::Corruption("training example: bad event type");
  }
  if (n > kMaxHistory) return Status::Corruption("training example: history too long");
  e.event = static_cast<EventType>(event);
  e.history_keys.resize(n);
  e.history_ts_ms.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.Get(&e.history_keys[i]) || !r.Get(&e.history_ts_ms[i])) {
      return Status::Corruption("training example: truncated history");
    }
  }
  if (!r.AtEnd()) return Status::Corruption("training example: trailing bytes");
  return e;
}

std::string EncodeItemStats(const ItemStats& s) {
  ByteWriter w;
  w.Put<uint8_t>(kItemStatsFormat);
  w.Put(s.item_key);
  w.PutString(s.item_id);
  w.Put(s.count);
  w.Put(s.popularity);
  w.Put(s.sampling_prob);
  w.Put(s.updated_ts_ms);
  return w.Take();
}

Result<ItemStats> DecodeItemStats(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  if (!r.Get(&format)) return Status::Corruption("item stats: empty");
  if (format != kItemStatsFormat) {
    return Status::Corruption("item stats: unknown format " + std::to_string(format));
  }
  ItemStats s;
  if (!r.Get(&s.item_key) || !r.GetString(&s.item_id, kMaxStringBytes) || !r.Get(&s.count) ||
      !r.Get(&s.popularity) || !r.Get(&s.sampling_prob) || !r.Get(&s.updated_ts_ms)) {
    return Status::Corruption("item stats: truncated");
  }
  if (!r.AtEnd()) return Status::Corruption("item stats: trailing bytes");
  return s;
}

std::string EncodeItemNeighbors(const ItemNeighbors& n) {
  ByteWriter w;
  w.Put<uint8_t>(kItemNeighborsFormat);
  w.Put(n.item_key);
  w.PutString(n.item_id);
  w.Put(n.updated_ts_ms);
  w.Put(static_cast<uint32_t>(n.neighbors.size()));
  for (const Neighbor& nb : n.neighbors) {
    w.Put(nb.item_key);
    w.PutString(nb.item_id);
    w.Put(nb.score);
    w.Put(nb.count);
  }
  return w.Take();
}

Result<ItemNeighbors> DecodeItemNeighbors(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  if (!r.Get(&format)) return Status::Corruption("item neighbors: empty");
  if (format != kItemNeighborsFormat) {
    return Status::Corruption("item neighbors: unknown format " + std::to_string(format));
  }
  ItemNeighbors n;
  uint32_t count = 0;
  if (!r.Get(&n.item_key) || !r.GetString(&n.item_id, kMaxStringBytes) || !r.Get(&n.updated_ts_ms) ||
      !r.Get(&count)) {
    return Status::Corruption("item neighbors: truncated header");
  }
  if (count > kMaxHistory) return Status::Corruption("item neighbors: list too long");
  n.neighbors.resize(count);
  for (Neighbor& nb : n.neighbors) {
    if (!r.Get(&nb.item_key) || !r.GetString(&nb.item_id, kMaxStringBytes) || !r.Get(&nb.score) ||
        !r.Get(&nb.count)) {
      return Status::Corruption("item neighbors: truncated list");
    }
  }
  if (!r.AtEnd()) return Status::Corruption("item neighbors: trailing bytes");
  return n;
}

}  // namespace streamrec
