// The time bounds `replay --from-topic` accepts (the reader itself needs a broker: see
// tests/integration/streams/topic_range_reader_test.cc).
#include "streams/topic_range_reader.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TEST(ParseTimeBound, MillisecondsIsoDateTimesAndDates) {
  EXPECT_EQ(*ParseTimeBound("1732270000123"), 1732270000123);
  EXPECT_EQ(*ParseTimeBound("0"), 0);
  // `date -u -d 2024-11-22T10:06:40Z +%s` = 1732270000.
  EXPECT_EQ(*ParseTimeBound("2024-11-22T10:06:40Z"), 1732270000000);
  EXPECT_EQ(*ParseTimeBound("2024-11-22T10:06:40.123Z"), 1732270000123);
  EXPECT_EQ(*ParseTimeBound("2024-11-22T10:06:40.5+00:00"), 1732270000500);
  EXPECT_EQ(*ParseTimeBound("2024-11-22"), 1732233600000);
  EXPECT_EQ(*ParseTimeBound("1970-01-01"), 0);
  EXPECT_EQ(*ParseTimeBound("2000-03-01T00:00:00Z"), 951868800000);  // after a leap day
  EXPECT_EQ(*ParseTimeBound("1998-04-23T00:00:00Z"), 893289600000);  // MovieLens-100k's last day
}

TEST(ParseTimeBound, RefusesWhatItCannotReadNamingTheForms) {
  for (const char* bad : {"", "yesterday", "2024-11-22T10:06:40", "2024-11-22T10:06:40+01:00",
                          "2024-13-01", "2024-11-22T25:00:00Z", "2024-11-22 10:06:40Z", "-5",
                          "1969-12-31", "2024-11-22T10:06:40.Z", "99999999999999999999"}) {
    Result<int64_t> t = ParseTimeBound(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_NE(t.status().message().find("2024-11-22T10:06:40Z"), std::string::npos) << bad;
    }
  }
}

}  // namespace
}  // namespace streamrec
