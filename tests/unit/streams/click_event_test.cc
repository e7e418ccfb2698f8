#include "streams/click_event.h"

#include <string>

#include <gtest/gtest.h>

#include "core/id_hash.h"

namespace streamrec {
namespace {

// HashId values recorded once (XXH3-64, seed "STRMREC1"); a change breaks every store.
constexpr uint64_t kPinnedU1 = 925050264152489529ULL;
constexpr uint64_t kPinnedSku9 = 5804139062206166842ULL;

constexpr char kGood[] =
    R"({"user_id":"u1","item_id":"sku-9","event":"click","ts":1732270000123,"session_id":"s1"})";

ClickParseResult Parse(std::string_view text) {
  ClickEventParser parser;
  return parser.Parse(text);
}

void ExpectReject(std::string_view text, RejectReason reason, const std::string& detail) {
  ClickParseResult r = Parse(text);
  EXPECT_EQ(r.reason, reason) << text << " → " << RejectReasonName(r.reason) << ": " << r.detail;
  EXPECT_EQ(r.detail, detail) << text;
  EXPECT_FALSE(r.ok());
}

TEST(ClickEventParser, ParsesTheDesignExample) {
  ClickParseResult r = Parse(kGood);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.event.user_id, "u1");
  EXPECT_EQ(r.event.item_id, "sku-9");
  EXPECT_EQ(r.event.session_id, "s1");
  EXPECT_EQ(r.event.event, EventType::kClick);
  EXPECT_EQ(r.event.ts_ms, 1732270000123);
  EXPECT_EQ(r.event.user_key, HashId("u1"));
  EXPECT_EQ(r.event.item_key, HashId("sku-9"));
  EXPECT_TRUE(r.detail.empty());
}

TEST(ClickEventParser, EveryEventTypeAndUnknownFieldsAndOptionalSession) {
  const std::pair<const char*, EventType> types[] = {{"view", EventType::kView},
                                                     {"click", EventType::kClick},
                                                     {"add_to_cart", EventType::kAddToCart},
                                                     {"purchase", EventType::kPurchase}};
  ClickEventParser parser;
  for (const auto& [name, type] : types) {
    const std::string msg =
        std::string(R"({"extra":{"nested":[1,2,{"x":null}]},"ts":1732270000000,)") +
        R"("event":")" + name + R"(","item_id":"i","user_id":"u","price":9.5})";
    ClickParseResult r = parser.Parse(msg);
    ASSERT_TRUE(r.ok()) << msg << ": " << r.detail;
    EXPECT_EQ(r.event.event, type);
    EXPECT_EQ(r.event.session_id, "");
  }
  ClickParseResult null_session = parser.Parse(
      R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"session_id":null})");
  ASSERT_TRUE(null_session.ok()) << null_session.detail;
  EXPECT_EQ(null_session.event.session_id, "");
}

TEST(ClickEventParser, KeepsUnicodeAndEscapesVerbatimAndRoundTrips) {
  ClickEvent e;
  e.user_id = "us\"er\\1\n";
  e.item_id = "ñandú-☃";
  e.session_id = "s\x01";
  e.event = EventType::kAddToCart;
  e.ts_ms = 1600000000000;
  const std::string json = EncodeClickEvent(e);
  EXPECT_EQ(json,
            "{\"user_id\":\"us\\\"er\\\\1\\n\",\"item_id\":\"ñandú-☃\",\"event\":\"add_to_cart\","
            "\"ts\":1600000000000,\"session_id\":\"s\\u0001\"}");
  ClickParseResult r = Parse(json);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.event.user_id, e.user_id);
  EXPECT_EQ(r.event.item_id, e.item_id);
  EXPECT_EQ(r.event.session_id, e.session_id);
  EXPECT_EQ(r.event.event, e.event);
  EXPECT_EQ(r.event.ts_ms, e.ts_ms);
}

TEST(ClickEventParser, EncodeOmitsEmptySession) {
  ClickEvent e;
  e.user_id = "u";
  e.item_id = "i";
  e.event = EventType::kView;
  e.ts_ms = 1732270000000;
  EXPECT_EQ(EncodeClickEvent(e),
            R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000})");
}

TEST(ClickEventRejects, BadJson) {
  ExpectReject("", RejectReason::kBadJson, "empty message");
  ClickParseResult r = Parse(R"({"user_id":"u1",)");
  EXPECT_EQ(r.reason, RejectReason::kBadJson);
  EXPECT_EQ(r.detail.rfind("not valid JSON: ", 0), 0u) << r.detail;
  EXPECT_EQ(Parse("{\"user_id\":\"u\xff\"}").reason, RejectReason::kBadJson);   // invalid UTF-8
  EXPECT_EQ(Parse(std::string(kGood) + " {}").reason, RejectReason::kBadJson);  // trailing value
  EXPECT_EQ(Parse("nul").reason, RejectReason::kBadJson);
  ExpectReject(R"(["u1","sku-9"])", RejectReason::kBadJson,
               "top-level value is an array, expected an object");
  ExpectReject("42", RejectReason::kBadJson, "top-level value is an integer, expected an object");
  ExpectReject(R"("x")", RejectReason::kBadJson, "top-level value is a string, expected an object");
}

TEST(ClickEventRejects, MessageTooLarge) {
  std::string big = R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"pad":")";
  big.append(kMaxClickMessageBytes, 'x');
  big.append("\"}");
  ExpectReject(big, RejectReason::kMessageTooLarge,
               "message is " + std::to_string(big.size()) + " bytes, the limit is 65536");
  // Exactly at the limit is fine.
  std::string at_limit =
      R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"pad":")";
  at_limit.append(kMaxClickMessageBytes - at_limit.size() - 2, 'x');
  at_limit.append("\"}");
  ASSERT_EQ(at_limit.size(), kMaxClickMessageBytes);
  EXPECT_TRUE(Parse(at_limit).ok());
}

TEST(ClickEventRejects, MissingFields) {
  ExpectReject(R"({"item_id":"i","event":"view","ts":1732270000000})", RejectReason::kMissingField,
               "user_id is missing");
  ExpectReject(R"({"user_id":"u","event":"view","ts":1732270000000})", RejectReason::kMissingField,
               "item_id is missing");
  ExpectReject(R"({"user_id":"u","item_id":"i","ts":1732270000000})", RejectReason::kMissingField,
               "event is missing");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view"})", RejectReason::kMissingField,
               "ts is missing");
  ExpectReject("{}", RejectReason::kMissingField, "user_id is missing");
}

TEST(ClickEventRejects, WrongTypes) {
  ExpectReject(R"({"user_id":7,"item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kWrongType, "user_id is an integer, expected a string");
  ExpectReject(R"({"user_id":"u","item_id":["i"],"event":"view","ts":1732270000000})",
               RejectReason::kWrongType, "item_id is an array, expected a string");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":1,"ts":1732270000000})",
               RejectReason::kWrongType, "event is an integer, expected a string");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":"1732270000000"})",
               RejectReason::kWrongType,
               "ts is a string, expected an integer (epoch milliseconds)");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000.5})",
               RejectReason::kWrongType,
               "ts is a floating-point number, expected an integer (epoch milliseconds)");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":null})",
               RejectReason::kWrongType, "ts is null, expected an integer (epoch milliseconds)");
  ExpectReject(R"({"user_id":null,"item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kWrongType, "user_id is null, expected a string");
  ExpectReject(
      R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"session_id":true})",
      RejectReason::kWrongType, "session_id is a boolean, expected a string");
  ExpectReject(R"({"user_id":{},"item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kWrongType, "user_id is an object, expected a string");
}

TEST(ClickEventRejects, EmptyIds) {
  ExpectReject(R"({"user_id":"","item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kEmptyId, "user_id is empty");
  ExpectReject(R"({"user_id":"u","item_id":"","event":"view","ts":1732270000000})",
               RejectReason::kEmptyId, "item_id is empty");
  // An empty session id is allowed (sessions are optional).
  EXPECT_TRUE(
      Parse(R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"session_id":""})")
          .ok());
}

TEST(ClickEventRejects, IdTooLong) {
  const std::string at_limit(kMaxIdBytes, 'a');
  const std::string over(kMaxIdBytes + 44, 'b');
  EXPECT_TRUE(
      Parse(R"({"user_id":")" + at_limit + R"(","item_id":"i","event":"view","ts":1732270000000})")
          .ok());
  ExpectReject(R"({"user_id":")" + over + R"(","item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kIdTooLong, "user_id is 300 bytes, the limit is 256");
  ExpectReject(R"({"user_id":"u","item_id":")" + over + R"(","event":"view","ts":1732270000000})",
               RejectReason::kIdTooLong, "item_id is 300 bytes, the limit is 256");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000000,"session_id":")" +
                   over + "\"}",
               RejectReason::kIdTooLong, "session_id is 300 bytes, the limit is 256");
  // Bytes, not characters: 129 two-byte characters are 258 bytes.
  std::string wide;
  for (int i = 0; i < 129; ++i) wide += "é";
  ExpectReject(R"({"user_id":")" + wide + R"(","item_id":"i","event":"view","ts":1732270000000})",
               RejectReason::kIdTooLong, "user_id is 258 bytes, the limit is 256");
}

TEST(ClickEventRejects, BadTimestamps) {
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":-5})",
               RejectReason::kBadTimestamp, "ts -5 is negative");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":1732270000})",
               RejectReason::kBadTimestamp,
               "ts 1732270000 is before 1990-01-01 (631152000000 ms); ts is epoch milliseconds");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":7258118400000})",
               RejectReason::kBadTimestamp,
               "ts 7258118400000 is after 2200-01-01 (7258118400000 ms); ts is epoch milliseconds");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"view","ts":18446744073709551615})",
               RejectReason::kBadTimestamp,
               "ts 18446744073709551615 is after 2200-01-01 (7258118400000 ms); ts is epoch "
               "milliseconds");
  // The edges: 1990-01-01T00:00:00.000Z is accepted, one millisecond before 2200 too.
  EXPECT_TRUE(Parse(R"({"user_id":"u","item_id":"i","event":"view","ts":631152000000})").ok());
  EXPECT_EQ(Parse(R"({"user_id":"u","item_id":"i","event":"view","ts":631151999999})").reason,
            RejectReason::kBadTimestamp);
  EXPECT_TRUE(Parse(R"({"user_id":"u","item_id":"i","event":"view","ts":7258118399999})").ok());
}

TEST(ClickEventRejects, UnknownEventType) {
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"like","ts":1732270000000})",
               RejectReason::kUnknownEventType,
               R"(event "like" is not one of view, click, add_to_cart, purchase)");
  ExpectReject(R"({"user_id":"u","item_id":"i","event":"Click","ts":1732270000000})",
               RejectReason::kUnknownEventType,
               R"(event "Click" is not one of view, click, add_to_cart, purchase)");
  const std::string long_name(100, 'z');
  ExpectReject(
      R"({"user_id":"u","item_id":"i","event":")" + long_name + R"(","ts":1732270000000})",
      RejectReason::kUnknownEventType,
      "event \"" + std::string(64, 'z') + "...\" is not one of view, click, add_to_cart, purchase");
}

TEST(ClickEventRejects, FirstProblemInFieldOrderIsReported) {
  // Both ids bad and a bad ts: user_id is checked first.
  ExpectReject(R"({"user_id":"","item_id":7,"event":"x","ts":-1})", RejectReason::kEmptyId,
               "user_id is empty");
  // Duplicate keys: the first occurrence wins.
  ClickParseResult r = Parse(
      R"({"user_id":"first","user_id":"second","item_id":"i","event":"view","ts":1732270000000})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.event.user_id, "first");
}

TEST(ClickEventRejects, ReasonNamesAreTheHeaderValues) {
  EXPECT_STREQ(RejectReasonName(RejectReason::kBadJson), "bad_json");
  EXPECT_STREQ(RejectReasonName(RejectReason::kMessageTooLarge), "message_too_large");
  EXPECT_STREQ(RejectReasonName(RejectReason::kMissingField), "missing_field");
  EXPECT_STREQ(RejectReasonName(RejectReason::kWrongType), "wrong_type");
  EXPECT_STREQ(RejectReasonName(RejectReason::kEmptyId), "empty_id");
  EXPECT_STREQ(RejectReasonName(RejectReason::kIdTooLong), "id_too_long");
  EXPECT_STREQ(RejectReasonName(RejectReason::kBadTimestamp), "bad_timestamp");
  EXPECT_STREQ(RejectReasonName(RejectReason::kUnknownEventType), "unknown_event_type");
}

TEST(ClickEventParser, ReusingOneParserGivesIndependentResults) {
  ClickEventParser parser;
  ClickParseResult a = parser.Parse(kGood);
  ClickParseResult b =
      parser.Parse(R"({"user_id":"zz","item_id":"yy","event":"purchase","ts":1732270000999})");
  ClickParseResult c = parser.Parse("not json");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(a.event.user_id, "u1");
  EXPECT_EQ(b.event.user_id, "zz");
  EXPECT_EQ(b.event.event, EventType::kPurchase);
}

// Keys are part of every store's on-disk format: pin them.
TEST(IdKeys, AreStableAcrossRunsAndMachines) {
  EXPECT_EQ(HashId("u1"), HashId(std::string("u1")));
  ClickParseResult r = Parse(kGood);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.event.user_key, kPinnedU1);
  EXPECT_EQ(r.event.item_key, kPinnedSku9);
}

}  // namespace
}  // namespace streamrec
