#include "core/records.h"

#include <cstring>

namespace streamrec {
namespace {

constexpr uint8_t kTrainingExampleFormat = 1;
constexpr uint8_t kItemStatsFormat = 1;
constexpr uint8_t kItemNeighborsFormat = 1;
// Bounds that keep a corrupt length field from allocating gigabytes.
constexpr uint32_t kMaxStringBytes = 1 << 16;
constexpr uint32_t kMaxHistory = 1 << 16;

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  template <typename T>
  void Fixed(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));  // the build targets little-endian hosts only
    out_.append(buf, sizeof(T));
  }
  void Str(std::string_view s) {
    Fixed<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n = 0;
    if (!Fixed(&n) || n > kMaxStringBytes || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "wire formats assume little-endian");

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
  Writer w;
  w.U8(kTrainingExampleFormat);
  w.Fixed(e.user_key);
  w.Str(e.user_id);
  w.Fixed(e.item_key);
  w.Str(e.item_id);
  w.U8(static_cast<uint8_t>(e.event));
  w.Fixed(e.weight);
  w.Fixed(e.ts_ms);
  const uint32_t n = static_cast<uint32_t>(e.history_keys.size());
  w.Fixed(n);
  for (uint32_t i = 0; i < n; ++i) {
    w.Fixed(e.history_keys[i]);
    w.Fixed(i < e.history_ts_ms.size() ? e.history_ts_ms[i] : int64_t{0});
  }
  return w.Take();
}

Result<TrainingExample> DecodeTrainingExample(std::string_view bytes) {
  Reader r(bytes);
  uint8_t format = 0;
  if (!r.U8(&format)) return Status::Corruption("training example: empty");
  if (format != kTrainingExampleFormat) {
    return Status::Corruption("training example: unknown format " + std::to_string(format));
  }
  TrainingExample e;
  uint8_t event = 0;
  uint32_t n = 0;
  if (!r.Fixed(&e.user_key) || !r.Str(&e.user_id) || !r.Fixed(&e.item_key) ||
      !r.Str(&e.item_id) || !r.U8(&event) || !r.Fixed(&e.weight) || !r.Fixed(&e.ts_ms) ||
      !r.Fixed(&n)) {
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
    if (!r.Fixed(&e.history_keys[i]) || !r.Fixed(&e.history_ts_ms[i])) {
      return Status::Corruption("training example: truncated history");
    }
  }
  if (!r.done()) return Status::Corruption("training example: trailing bytes");
  return e;
}

std::string EncodeItemStats(const ItemStats& s) {
  Writer w;
  w.U8(kItemStatsFormat);
  w.Fixed(s.item_key);
  w.Str(s.item_id);
  w.Fixed(s.count);
  w.Fixed(s.popularity);
  w.Fixed(s.sampling_prob);
  w.Fixed(s.updated_ts_ms);
  return w.Take();
}

Result<ItemStats> DecodeItemStats(std::string_view bytes) {
  Reader r(bytes);
  uint8_t format = 0;
  if (!r.U8(&format)) return Status::Corruption("item stats: empty");
  if (format != kItemStatsFormat) {
    return Status::Corruption("item stats: unknown format " + std::to_string(format));
  }
  ItemStats s;
  if (!r.Fixed(&s.item_key) || !r.Str(&s.item_id) || !r.Fixed(&s.count) ||
      !r.Fixed(&s.popularity) || !r.Fixed(&s.sampling_prob) || !r.Fixed(&s.updated_ts_ms)) {
    return Status::Corruption("item stats: truncated");
  }
  if (!r.done()) return Status::Corruption("item stats: trailing bytes");
  return s;
}

std::string EncodeItemNeighbors(const ItemNeighbors& n) {
  Writer w;
  w.U8(kItemNeighborsFormat);
  w.Fixed(n.item_key);
  w.Str(n.item_id);
  w.Fixed(n.updated_ts_ms);
  w.Fixed(static_cast<uint32_t>(n.neighbors.size()));
  for (const Neighbor& nb : n.neighbors) {
    w.Fixed(nb.item_key);
    w.Str(nb.item_id);
    w.Fixed(nb.score);
    w.Fixed(nb.count);
  }
  return w.Take();
}

Result<ItemNeighbors> DecodeItemNeighbors(std::string_view bytes) {
  Reader r(bytes);
  uint8_t format = 0;
  if (!r.U8(&format)) return Status::Corruption("item neighbors: empty");
  if (format != kItemNeighborsFormat) {
    return Status::Corruption("item neighbors: unknown format " + std::to_string(format));
  }
  ItemNeighbors n;
  uint32_t count = 0;
  if (!r.Fixed(&n.item_key) || !r.Str(&n.item_id) || !r.Fixed(&n.updated_ts_ms) ||
      !r.Fixed(&count)) {
    return Status::Corruption("item neighbors: truncated header");
  }
  if (count > kMaxHistory) return Status::Corruption("item neighbors: list too long");
  n.neighbors.resize(count);
  for (Neighbor& nb : n.neighbors) {
    if (!r.Fixed(&nb.item_key) || !r.Str(&nb.item_id) || !r.Fixed(&nb.score) ||
        !r.Fixed(&nb.count)) {
      return Status::Corruption("item neighbors: truncated list");
    }
  }
  if (!r.done()) return Status::Corruption("item neighbors: trailing bytes");
  return n;
}

}  // namespace streamrec
