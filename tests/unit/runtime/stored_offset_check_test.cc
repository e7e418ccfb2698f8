// runtime::CheckStoredOffset: a stored input position against the partition's watermarks
// (issue 14 item 10). The broker side is tests/integration/runtime/stored_offsets_test.cc.
#include "runtime/stored_offset_check.h"

#include <gtest/gtest.h>

namespace streamrec::runtime {
namespace {

StoredOffsetCheck Check(int64_t stored, int64_t low, int64_t high) {
  StoredOffsetCheck c;
  c.stage = "user";
  c.topic = "clicks";
  c.partition = 3;
  c.stored = stored;
  c.low = low;
  c.high = high;
  c.state = "/var/lib/streamrec/user-3";
  c.start_over = "restart with --reset-state";
  return c;
}

TEST(StoredOffsetCheck, WithinTheLogIsFine) {
  for (int64_t stored : {0, 5, 10}) {
    StoredOffsetVerdict v = CheckStoredOffset(Check(stored, 0, 10));
    EXPECT_TRUE(v.error.ok()) << stored << ": " << v.error.ToString();
    EXPECT_TRUE(v.warning.empty()) << stored << ": " << v.warning;
  }
  // At the end exactly: everything read, nothing new (the usual restart).
  EXPECT_TRUE(CheckStoredOffset(Check(10, 10, 10)).error.ok());
}

TEST(StoredOffsetCheck, BeyondTheEndOffsetIsAnErrorNamingEverything) {
  // A recreated topic (or a reset broker) holding 4 records where the stage had read 1000.
  StoredOffsetVerdict v = CheckStoredOffset(Check(1000, 0, 4));
  ASSERT_FALSE(v.error.ok());
  EXPECT_EQ(v.error.code(), Status::Code::kFailedPrecondition);
  const std::string m = v.error.message();
  EXPECT_NE(m.find("clicks:3"), std::string::npos) << m;
  EXPECT_NE(m.find("next offset 1000"), std::string::npos) << m;
  EXPECT_NE(m.find("end offset 4"), std::string::npos) << m;
  EXPECT_NE(m.find("/var/lib/streamrec/user-3"), std::string::npos) << m;
  EXPECT_NE(m.find("recreated"), std::string::npos) << m;
  EXPECT_NE(m.find("To start over from what the broker holds now: restart with --reset-state."),
            std::string::npos)
      << m;
  // An empty new topic too.
  EXPECT_FALSE(CheckStoredOffset(Check(1, 0, 0)).error.ok());
}

TEST(StoredOffsetCheck, BelowTheLogStartIsAWarningWithTheGap) {
  StoredOffsetVerdict v = CheckStoredOffset(Check(100, 250, 400));
  EXPECT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_NE(v.warning.find("150 records were deleted by retention"), std::string::npos) << v.warning;
  EXPECT_NE(v.warning.find("resumes at 250"), std::string::npos) << v.warning;
}

TEST(StoredOffsetCheck, NoHintWithoutOne) {
  StoredOffsetCheck c = Check(9, 0, 3);
  c.start_over.clear();
  const std::string m = CheckStoredOffset(c).error.message();
  EXPECT_EQ(m.find("To start over"), std::string::npos) << m;
}

}  // namespace
}  // namespace streamrec::runtime
