#include "streams/click_event.h"

#include <cstring>
#include <vector>

#include <simdjson.h>

#include "core/id_hash.h"
#include "core/json_writer.h"

namespace streamrec {
namespace {

// 1990-01-01T00:00:00Z and 2200-01-01T00:00:00Z in epoch milliseconds.
constexpr int64_t kMinTsMs = 631152000000LL;
constexpr int64_t kMaxTsMs = 7258118400000LL;

const char* TypeName(simdjson::dom::element_type t) {
  using T = simdjson::dom::element_type;
  switch (t) {
    case T::ARRAY:
      return "an array";
    case T::OBJECT:
      return "an object";
    case T::INT64:
    case T::UINT64:
      return "an integer";
    case T::DOUBLE:
      return "a floating-point number";
    case T::STRING:
      return "a string";
    case T::BOOL:
      return "a boolean";
    case T::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

ClickParseResult Reject(RejectReason reason, std::string detail) {
  ClickParseResult r;
  r.reason = reason;
  r.detail = std::move(detail);
  return r;
}

RejectReason CheckIdString(const char* name, std::string_view s, bool required,
                           std::string* detail);

// Validates an id field present in the object; `required` ids may not be empty.
RejectReason CheckId(const char* name, simdjson::dom::element value, bool required,
                     std::string* out, std::string* detail) {
  if (value.type() != simdjson::dom::element_type::STRING) {
    *detail = std::string(name) + " is " + TypeName(value.type()) + ", expected a string";
    return RejectReason::kWrongType;
  }
  std::string_view s = value.get_string().value_unsafe();
  const RejectReason r = CheckIdString(name, s, required, detail);
  if (r == RejectReason::kNone) out->assign(s.data(), s.size());
  return r;
}

RejectReason CheckIdString(const char* name, std::string_view s, bool required,
                           std::string* detail) {
  if (required && s.empty()) {
    *detail = std::string(name) + " is empty";
    return RejectReason::kEmptyId;
  }
  if (s.size() > kMaxIdBytes) {
    *detail = std::string(name) + " is " + std::to_string(s.size()) + " bytes, the limit is " +
              std::to_string(kMaxIdBytes);
    return RejectReason::kIdTooLong;
  }
  return RejectReason::kNone;
}

RejectReason CheckTs(int64_t v, std::string* detail) {
  if (v < 0) {
    *detail = "ts " + std::to_string(v) + " is negative";
    return RejectReason::kBadTimestamp;
  }
  if (v < kMinTsMs) {
    *detail = "ts " + std::to_string(v) + " is before 1990-01-01 (" + std::to_string(kMinTsMs) +
              " ms); ts is epoch milliseconds";
    return RejectReason::kBadTimestamp;
  }
  if (v >= kMaxTsMs) {
    *detail = "ts " + std::to_string(v) + " is after 2200-01-01 (" + std::to_string(kMaxTsMs) +
              " ms); ts is epoch milliseconds";
    return RejectReason::kBadTimestamp;
  }
  return RejectReason::kNone;
}

}  // namespace

RejectReason CheckNotAhead(int64_t ts_ms, int64_t now_ms, int64_t max_future_ms, std::string* detail) {
  if (max_future_ms <= 0 || ts_ms <= now_ms + max_future_ms) return RejectReason::kNone;
  *detail = "ts " + std::to_string(ts_ms) + " is " + std::to_string((ts_ms - now_ms) / 1000) +
            " s ahead of the clock; the limit is operators.max_future_ms=" + std::to_string(max_future_ms);
  return RejectReason::kBadTimestamp;
}

ClickParseResult ValidateClickEvent(ClickEvent event) {
  std::string detail;
  RejectReason r = CheckIdString("user_id", event.user_id, true, &detail);
  if (r == RejectReason::kNone) r = CheckIdString("item_id", event.item_id, true, &detail);
  if (r == RejectReason::kNone) r = CheckTs(event.ts_ms, &detail);
  if (r == RejectReason::kNone) r = CheckIdString("session_id", event.session_id, false, &detail);
  if (r != RejectReason::kNone) return Reject(r, std::move(detail));
  ClickParseResult result;
  event.user_key = HashId(event.user_id);
  event.item_key = HashId(event.item_id);
  result.event = std::move(event);
  return result;
}

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "none";
    case RejectReason::kBadJson:
      return "bad_json";
    case RejectReason::kMessageTooLarge:
      return "message_too_large";
    case RejectReason::kMissingField:
      return "missing_field";
    case RejectReason::kWrongType:
      return "wrong_type";
    case RejectReason::kEmptyId:
      return "empty_id";
    case RejectReason::kIdTooLong:
      return "id_too_long";
    case RejectReason::kBadTimestamp:
      return "bad_timestamp";
    case RejectReason::kUnknownEventType:
      return "unknown_event_type";
  }
  return "unknown";
}

struct ClickEventParser::Rep {
  simdjson::dom::parser parser;
  std::vector<char> buffer;  // message copy with SIMDJSON_PADDING bytes after it
};

ClickEventParser::ClickEventParser() : rep_(new Rep) {
  rep_->buffer.resize(1024 + simdjson::SIMDJSON_PADDING);
}

ClickEventParser::~ClickEventParser() { delete rep_; }

ClickParseResult ClickEventParser::Parse(std::string_view message) {
  if (message.size() > kMaxClickMessageBytes) {
    return Reject(RejectReason::kMessageTooLarge, "message is " + std::to_string(message.size()) +
                                                      " bytes, the limit is " +
                                                      std::to_string(kMaxClickMessageBytes));
  }
  if (rep_->buffer.size() < message.size() + simdjson::SIMDJSON_PADDING) {
    rep_->buffer.resize(message.size() + simdjson::SIMDJSON_PADDING);
  }
  if (!message.empty()) std::memcpy(rep_->buffer.data(), message.data(), message.size());
  std::memset(rep_->buffer.data() + message.size(), 0, simdjson::SIMDJSON_PADDING);

  simdjson::dom::element root;
  auto error = rep_->parser.parse(rep_->buffer.data(), message.size(), false).get(root);
  if (error) {
    if (message.empty()) return Reject(RejectReason::kBadJson, "empty message");
    return Reject(RejectReason::kBadJson,
                  std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  if (root.type() != simdjson::dom::element_type::OBJECT) {
    return Reject(RejectReason::kBadJson, std::string("top-level value is ") +
                                              TypeName(root.type()) + ", expected an object");
  }

  // One pass over the fields; the first occurrence of a key wins, unknown keys are ignored.
  simdjson::dom::element user, item, event, ts, session;
  bool has_user = false, has_item = false, has_event = false, has_ts = false, has_session = false;
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return Reject(RejectReason::kBadJson, "top-level value is not an object");
  }
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view k = field.key;
    if (k == "user_id") {
      if (!has_user) {
        user = field.value;
        has_user = true;
      }
    } else if (k == "item_id") {
      if (!has_item) {
        item = field.value;
        has_item = true;
      }
    } else if (k == "event") {
      if (!has_event) {
        event = field.value;
        has_event = true;
      }
    } else if (k == "ts") {
      if (!has_ts) {
        ts = field.value;
        has_ts = true;
      }
    } else if (k == "session_id") {
      if (!has_session) {
        session = field.value;
        has_session = true;
      }
    }
  }

  ClickParseResult result;
  std::string detail;
  if (!has_user) return Reject(RejectReason::kMissingField, "user_id is missing");
  if (!has_item) return Reject(RejectReason::kMissingField, "item_id is missing");
  if (!has_event) return Reject(RejectReason::kMissingField, "event is missing");
  if (!has_ts) return Reject(RejectReason::kMissingField, "ts is missing");

  RejectReason r = CheckId("user_id", user, true, &result.event.user_id, &detail);
  if (r != RejectReason::kNone) return Reject(r, std::move(detail));
  r = CheckId("item_id", item, true, &result.event.item_id, &detail);
  if (r != RejectReason::kNone) return Reject(r, std::move(detail));

  if (event.type() != simdjson::dom::element_type::STRING) {
    return Reject(RejectReason::kWrongType,
                  std::string("event is ") + TypeName(event.type()) + ", expected a string");
  }
  const std::string_view event_name = event.get_string().value_unsafe();
  if (!ParseEventType(event_name, &result.event.event)) {
    std::string shown(event_name.substr(0, 64));
    if (event_name.size() > 64) shown += "...";
    return Reject(RejectReason::kUnknownEventType,
                  "event \"" + shown + "\" is not one of view, click, add_to_cart, purchase");
  }

  switch (ts.type()) {
    case simdjson::dom::element_type::INT64: {
      const int64_t v = ts.get_int64().value_unsafe();
      r = CheckTs(v, &detail);
      if (r != RejectReason::kNone) return Reject(r, std::move(detail));
      result.event.ts_ms = v;
      break;
    }
    case simdjson::dom::element_type::UINT64:
      return Reject(RejectReason::kBadTimestamp,
                    "ts " + std::to_string(ts.get_uint64().value_unsafe()) +
                        " is after 2200-01-01 (" + std::to_string(kMaxTsMs) +
                        " ms); ts is epoch milliseconds");
    default:
      return Reject(RejectReason::kWrongType, std::string("ts is ") + TypeName(ts.type()) +
                                                  ", expected an integer (epoch milliseconds)");
  }

  if (has_session && session.type() != simdjson::dom::element_type::NULL_VALUE) {
    r = CheckId("session_id", session, false, &result.event.session_id, &detail);
    if (r != RejectReason::kNone) return Reject(r, std::move(detail));
  }

  result.event.user_key = HashId(result.event.user_id);
  result.event.item_key = HashId(result.event.item_id);
  return result;
}

std::string EncodeClickEvent(const ClickEvent& e) {
  JsonWriter w;
  w.BeginObject()
      .Key("user_id").String(e.user_id)
      .Key("item_id").String(e.item_id)
      .Key("event").String(EventTypeName(e.event))
      .Key("ts").Int(e.ts_ms);
  if (!e.session_id.empty()) w.Key("session_id").String(e.session_id);
  w.EndObject();
  return w.Release();
}

}  // namespace streamrec
