#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/records.h"
#include "core/status.h"

namespace streamrec {

// Limits of strict validation (DESIGN §2, issue "Foundation").
inline constexpr size_t kMaxIdBytes = 256;
inline constexpr size_t kMaxClickMessageBytes = 64 * 1024;

// Why a `clicks` message was rejected. The name (RejectReasonName) is the value of the
// `streamrec.reject.reason` header on `clicks.dlq` and the `reason` label of
// streamrec_events_rejected_total.
enum class RejectReason : uint8_t {
  kNone = 0,
  kBadJson,           // not parseable JSON, or not an object
  kMessageTooLarge,   // over kMaxClickMessageBytes
  kMissingField,      // user_id, item_id, event or ts absent
  kWrongType,         // a field of the wrong JSON type
  kEmptyId,           // user_id or item_id ""
  kIdTooLong,         // an id over kMaxIdBytes
  kBadTimestamp,      // ts negative, or absurd (from 2200 on, or before 1990: MovieLens-100k
                      // is 1997-98, and a ts in seconds reads as January 1970)
  kUnknownEventType,  // event not one of view|click|add_to_cart|purchase
  // A new reason goes above this line, or dead_letter_queue.cc's kReasons must name it:
  // that is how many streamrec_events_rejected_total series exist from the start.
};
const char* RejectReasonName(RejectReason reason);

// A validated click event. Ids are kept verbatim for output; keys are HashId(id).
struct ClickEvent {
  std::string user_id;
  std::string item_id;
  std::string session_id;  // may be empty
  EventType event = EventType::kClick;
  int64_t ts_ms = 0;  // event time, epoch milliseconds
  uint64_t user_key = 0;
  uint64_t item_key = 0;
};

// Outcome of parsing one message: either an event, or a reason plus a precise
// human-readable detail ("user_id is 300 bytes, the limit is 256").
struct ClickParseResult {
  RejectReason reason = RejectReason::kNone;
  std::string detail;
  ClickEvent event;
  bool ok() const { return reason == RejectReason::kNone; }
};

// Parses and strictly validates one `clicks` JSON message (simdjson). Unknown fields are
// ignored. Thread-compatible: use one ClickEventParser per thread.
class ClickEventParser {
 public:
  ClickEventParser();
  ~ClickEventParser();
  ClickParseResult Parse(std::string_view message);

 private:
  struct Rep;
  Rep* rep_;
};

// Applies the same field checks as ClickEventParser::Parse to an event built from another
// source (a MovieLens or CSV line): ids non-empty and within kMaxIdBytes, ts within
// [1990-01-01, 2200-01-01). Fills user_key/item_key on success. Thread-safe.
ClickParseResult ValidateClickEvent(ClickEvent event);

// The trust check on event time: a click dated more than `max_future_ms` ahead of
// `now_ms` (a wall clock) would pin its user's window, since nothing later can follow it.
// Returns kBadTimestamp with a detail naming `limit_name`, or kNone; max_future_ms 0 = no
// check. Applied by the user stage and by serving's POST /v1/events with the same limit
// (operators.max_future_ms), so what the API accepts is not dead-lettered later.
RejectReason CheckNotAhead(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, std::string* detail);

// Canonical JSON of an event (the schema of DESIGN §2), e.g. for the generator.
std::string EncodeClickEvent(const ClickEvent& event);

}  // namespace streamrec
