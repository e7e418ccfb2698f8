#include "operators/user_window.h"

#include <algorithm>

#include "core/byte_codec.h"

namespace streamrec::operators {
namespace {
constexpr uint8_t kWindowFormat = 1;
}  // namespace

Result<UserWindowOptions> UserWindowOptions::FromConfig(const Config& config) {
  UserWindowOptions o;
  auto size = config.GetInt("operators.window.size", static_cast<int64_t>(o.max_items));
  if (!size.ok()) return size.status();
  if (*size < 1 || *size > 10000) {
    return Status::InvalidArgument("operators.window.size must be in [1, 10000]");
  }
  o.max_items = static_cast<size_t>(*size);
  auto horizon =
      config.GetDouble("operators.window.horizon_s", static_cast<double>(o.horizon_ms) / 1000);
  if (!horizon.ok()) return horizon.status();
  o.horizon_ms = static_cast<int64_t>(*horizon * 1000);
  return o;
}

void UserWindow::EvictOlderThan(int64_t ts_ms) {
  if (options_.horizon_ms <= 0) return;
  const int64_t cutoff = ts_ms - options_.horizon_ms;
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [cutoff](const WindowEntry& e) { return e.ts_ms < cutoff; }),
                 entries_.end());
}

void UserWindow::Add(uint64_t item_key, std::string_view item_id, int64_t ts_ms,
                     EventType event) {
  EvictOlderThan(ts_ms);
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [item_key](const WindowEntry& e) { return e.item_key == item_key; }),
                 entries_.end());
  entries_.push_back(WindowEntry{item_key, std::string(item_id), ts_ms, event});
  if (options_.max_items == 0) {
    entries_.clear();
  } else if (entries_.size() > options_.max_items) {
    entries_.erase(entries_.begin(),
                   entries_.begin() + static_cast<long>(entries_.size() - options_.max_items));
  }
}

std::string UserWindow::Serialize() const {
  ByteWriter w;
  w.Put<uint8_t>(kWindowFormat);
  w.Put<uint32_t>(static_cast<uint32_t>(entries_.size()));
  for (const auto& e : entries_) {
    w.Put<uint64_t>(e.item_key);
    w.PutString(e.item_id);
    w.Put<int64_t>(e.ts_ms);
    w.Put<uint8_t>(static_cast<uint8_t>(e.event));
  }
  return w.Take();
}

Result<UserWindow> UserWindow::Parse(std::string_view bytes, UserWindowOptions options) {
  ByteReader r(bytes);
  uint8_t format = 0;
  uint32_t n = 0;
  if (!r.Get(&format) || format != kWindowFormat) {
    return Status::Corruption("user window: unknown format");
  }
  if (!r.Get(&n) || n > (1u << 20)) return Status::Corruption("user window: bad length");
  UserWindow window(options);
  window.entries_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    WindowEntry e;
    uint8_t event = 0;
    if (!r.Get(&e.item_key) || !r.GetString(&e.item_id, 1 << 16) || !r.Get(&e.ts_ms) || !r.Get(&event) ||
        event > static_cast<uint8_t>(EventType::kPurchase)) {
      return Status::Corruption("user window: truncated entry");
    }
    e.event = static_cast<EventType>(event);
    window.entries_.push_back(std::move(e));
  }
  if (!r.AtEnd()) return Status::Corruption("user window: trailing bytes");
  return window;
}

}  // namespace streamrec::operators
