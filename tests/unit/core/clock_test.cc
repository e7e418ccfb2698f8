#include "core/clock.h"

#include <gtest/gtest.h>

namespace streamrec {
namespace {

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(1000);
  EXPECT_EQ(clock.NowMillis(), 1000);
  clock.Advance(250);
  EXPECT_EQ(clock.NowMillis(), 1250);
  clock.Set(5);
  EXPECT_EQ(clock.NowMillis(), 5);
}

TEST(ClockTest, SystemClockIsEpochMillis) {
  // 2020-01-01 < now < 2100-01-01: catches seconds/micros unit mistakes.
  const int64_t now = SystemClock().NowMillis();
  EXPECT_GT(now, 1577836800000LL);
  EXPECT_LT(now, 4102444800000LL);
  EXPECT_LE(now, NewSystemClock()->NowMillis());
}

}  // namespace
}  // namespace streamrec
