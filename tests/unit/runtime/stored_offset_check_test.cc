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

// CheckLastRecord (issue 14 item 10): the record at the stored offset - 1 against the
// identity of the last record the state applied.
Record At(int64_t offset, int64_t ts, const std::string& key, const std::string& value) {
  Record r;
  r.topic = "clicks";
  r.partition = 3;
  r.offset = offset;
  r.timestamp_ms = ts;
  r.key = key;
  r.value = value;
  r.has_key = true;
  return r;
}

TEST(StoredOffsetCheck, TheSameLastRecordPasses) {
  const state::RecordIdentity last = IdentifyRecord(At(999, 5000, "u1", "{\"a\":1}"));
  StoredOffsetVerdict v = CheckLastRecord(Check(1000, 0, 2000), last, IdentifyRecord(At(999, 5000, "u1", "{\"a\":1}")));
  EXPECT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_TRUE(v.warning.empty()) << v.warning;
}

TEST(StoredOffsetCheck, AnotherRecordAtTheLastOffsetIsAnErrorNamingEverything) {
  const state::RecordIdentity last = IdentifyRecord(At(999, 5000, "u1", "v"));
  for (const Record& other : {At(999, 5001, "u1", "v"), At(999, 5000, "u2", "v"), At(999, 5000, "u1", "w"),
                              At(999, 5000, "u1v", "")}) {
    StoredOffsetVerdict v = CheckLastRecord(Check(1000, 0, 2000), last, IdentifyRecord(other));
    ASSERT_FALSE(v.error.ok()) << other.key << "/" << other.value;
    EXPECT_EQ(v.error.code(), Status::Code::kFailedPrecondition);
    const std::string m = v.error.message();
    EXPECT_NE(m.find("clicks:3: the stored position (next offset 1000, in /var/lib/streamrec/user-3)"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("the record at offset 999 is not the one this state applied last"), std::string::npos) << m;
    EXPECT_NE(m.find("recreated"), std::string::npos) << m;
    EXPECT_NE(m.find("To start over from what the broker holds now: restart with --reset-state."),
              std::string::npos)
        << m;
  }
}

TEST(StoredOffsetCheck, ARemovedOrUnreadableLastRecordIsOnlyAWarning) {
  const state::RecordIdentity last = IdentifyRecord(At(999, 5000, "u1", "v"));
  // Compaction removed it: the first record found is a later one.
  StoredOffsetVerdict v = CheckLastRecord(Check(1000, 0, 2000), last, IdentifyRecord(At(1003, 1, "x", "y")));
  EXPECT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_NE(v.warning.find("no longer in the log"), std::string::npos) << v.warning;
  v = CheckLastRecord(Check(1000, 0, 2000), last, std::nullopt);
  EXPECT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_NE(v.warning.find("could not be read back"), std::string::npos) << v.warning;
}

}  // namespace
}  // namespace streamrec::runtime
