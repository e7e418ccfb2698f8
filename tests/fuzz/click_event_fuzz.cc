// libFuzzer target for the `clicks` parser: any input must either be rejected with a
// reason and a detail, or give an event that survives EncodeClickEvent → Parse unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/id_hash.h"
#include "streams/click_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static streamrec::ClickEventParser parser;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  streamrec::ClickParseResult r = parser.Parse(input);
  if (!r.ok()) {
    if (r.detail.empty()) std::abort();  // every rejection says why
    return 0;
  }
  const streamrec::ClickEvent e = r.event;
  if (e.user_id.empty() || e.item_id.empty() || e.user_id.size() > streamrec::kMaxIdBytes ||
      e.item_id.size() > streamrec::kMaxIdBytes || e.session_id.size() > streamrec::kMaxIdBytes) {
    std::abort();
  }
  if (e.user_key != streamrec::HashId(e.user_id) || e.item_key != streamrec::HashId(e.item_id)) {
    std::abort();
  }
  streamrec::ClickParseResult again = parser.Parse(streamrec::EncodeClickEvent(e));
  if (!again.ok() || again.event.user_id != e.user_id || again.event.item_id != e.item_id ||
      again.event.session_id != e.session_id || again.event.event != e.event ||
      again.event.ts_ms != e.ts_ms) {
    std::abort();
  }
  if (!streamrec::ValidateClickEvent(e).ok()) std::abort();
  return 0;
}
