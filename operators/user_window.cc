#include "operators/user_window.h"

#include <algorithm>

#include "state/encoding.h"

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
  state::ByteWriter w;
  w.U8(kWindowFormat);
  w.U32(static_cast<uint32_t>(entries_.size()));
  for (const auto& e : entries_) {
    w.U64(e.item_key);
    w.Str(e.item_id);
    w.I64(e.ts_ms);
    w.U8(static_cast<uint8_t>(e.event));
  }
  return w.Take();
}

Result<UserWindow> UserWindow::Parse(std::string_view bytes, UserWindowOptions options) {
  state::ByteReader r(bytes);
  uint8_t format = 0;
  uint32_t n = 0;
  if (!r.U8(&format) || format != kWindowFormat) {
    return Status::Corruption("user window: unknown format");
  }
  if (!r.U32(&n) || n > (1u << 20)) return Status::Corruption("user window: bad length");
  UserWindow window(options);
  window.entries_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    WindowEntry e;
    uint8_t event = 0;
    if (!r.U64(&e.item_key) || !r.Str(&e.item_id, 1 << 16) || !r.I64(&e.ts_ms) || !r.U8(&event) ||
        event > static_cast<uint8_t>(EventType::kPurchase)) {
      return Status::Corruption("user window: truncated entry");
    }
    e.event = static_cast<EventType>(event);
    window.entries_.push_back(std::move(e));
  }
  if (!r.done()) return Status::Corruption("user window: trailing bytes");
  return window;
}

}  // namespace streamrec::operators
