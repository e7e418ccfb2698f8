#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <limits>

namespace streamrec {
namespace {

TEST(JsonWriterTest, WritesNestedValuesWithCommas) {
  JsonWriter w;
  w.BeginObject()
      .Key("a").Int(-3)
      .Key("b").BeginArray().Double(0.5).Bool(true).Null().EndArray()
      .Key("c").BeginObject().EndObject()
      .Key("d").String("x")
      .EndObject();
  EXPECT_EQ(w.str(), R"({"a":-3,"b":[0.5,true,null],"c":{},"d":"x"})");
}

TEST(JsonWriterTest, NonFiniteDoublesAreNull) {
  JsonWriter w;
  w.BeginArray()
      .Double(std::numeric_limits<double>::infinity())
      .Double(std::numeric_limits<double>::quiet_NaN())
      .Double(1e-7)
      .EndArray();
  EXPECT_EQ(w.str(), "[null,null,1e-07]");
}

TEST(JsonWriterTest, EscapesControlCharactersAndQuotes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(JsonQuote(std::string_view("\0", 1)), R"("\u0000")");
}

TEST(JsonWriterTest, KeepsValidUtf8) {
  // é (2 bytes), € (3 bytes), 😀 (4 bytes)
  EXPECT_EQ(JsonQuote("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
            "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
}

TEST(JsonWriterTest, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(JsonQuote("a\xFF" "b"), "\"a" + kFffd + "b\"");          // never valid
  EXPECT_EQ(JsonQuote("\xC3"), "\"" + kFffd + "\"");                 // truncated
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");     // overlong '/'
  EXPECT_EQ(JsonQuote("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // surrogate
  EXPECT_EQ(JsonQuote("\xF4\x90\x80\x80"),                           // above U+10FFFF
            "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
  JsonWriter w;
  w.BeginObject().Key("k\x80").String("v").EndObject();
  EXPECT_EQ(w.str(), "{\"k" + kFffd + "\":\"v\"}");
}

}  // namespace
}  // namespace streamrec
