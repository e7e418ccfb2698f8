#include "operators/popularity.h"

#include <gtest/gtest.h>

namespace streamrec::operators {
namespace {

TEST(DecayedCountTest, HalvesEveryHalfLife) {
  DecayedCount c;
  c.Add(4, 1000, 1000);
  EXPECT_DOUBLE_EQ(c.ValueAt(2000, 1000), 2.0);
  c.Add(1, 3000, 1000);  // 4 * 0.25 + 1
  EXPECT_DOUBLE_EQ(c.value(), 2.0);
  c.Add(2, 2000, 1000);  // late: 2 * 0.5 added at reference time 3000
  EXPECT_DOUBLE_EQ(c.value(), 3.0);
  EXPECT_EQ(c.ts_ms(), 3000);
  auto parsed = DecayedCount::Parse(c.Serialize());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->value(), 3.0);
  EXPECT_EQ(parsed->ts_ms(), 3000);
}

TEST(DecayedCountTest, NoHalfLifeIsAPlainSum) {
  DecayedCount c;
  c.Add(1, 10, 0);
  c.Add(2, 1'000'000, 0);
  EXPECT_EQ(c.value(), 3.0);
}

}  // namespace
}  // namespace streamrec::operators
