#include "runtime/catch_up.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace streamrec::runtime {
namespace {

Record At(const std::string& topic, int32_t partition, int64_t offset) {
  Record r;
  r.topic = topic;
  r.partition = partition;
  r.offset = offset;
  return r;
}

TEST(CatchUpTrackerTest, NotReadyBeforeStartEvenWithNothingToRead) {
  CatchUpTracker t("item");
  EXPECT_FALSE(t.caught_up());
  Status st = t.Readiness();
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_NE(st.message().find("item: not started"), std::string::npos) << st.ToString();
  t.Start();  // an empty assignment
  EXPECT_TRUE(t.caught_up());
  EXPECT_TRUE(t.Readiness().ok());
}

TEST(CatchUpTrackerTest, ReadyOnlyOnceEveryPartitionReachedItsEndAsOfAssignment) {
  CatchUpTracker t("user");
  t.Expect("clicks", 0, kOffsetBeginning, 0, 3);  // offsets 0..2 to read
  t.Expect("clicks", 1, 5, 0, 5);                 // stored position at the end already
  t.Expect("clicks", 2, kOffsetBeginning, 7, 7);  // empty (retention removed everything)
  t.Start();
  EXPECT_FALSE(t.caught_up());
  Status st = t.Readiness();
  EXPECT_NE(st.message().find("1 partition(s)"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("clicks:0 at ? of 3"), std::string::npos) << st.ToString();
  ASSERT_EQ(t.Behind().size(), 1u);
  EXPECT_EQ(t.Behind()[0], (TopicPartitionOffset{"clicks", 0, 3}));

  t.OnRecords({At("clicks", 0, 0), At("clicks", 1, 5), At("other", 0, 9)});
  EXPECT_FALSE(t.caught_up());
  EXPECT_NE(t.Readiness().message().find("clicks:0 at 1 of 3"), std::string::npos);
  t.OnRecords({At("clicks", 0, 1)});
  EXPECT_FALSE(t.caught_up());
  // Records appended after the assignment do not move the line: offset 2 is the last.
  t.OnRecords({At("clicks", 0, 2)});
  EXPECT_TRUE(t.caught_up());
  EXPECT_TRUE(t.Readiness().ok());
}

TEST(CatchUpTrackerTest, PositionsCoverOffsetsWithoutRecordsAndNewAssignmentsCountAgain) {
  CatchUpTracker t("serving");
  t.Start();
  t.Expect("items", 0, kOffsetBeginning, 0, 10);
  EXPECT_FALSE(t.caught_up());
  t.OnPosition("items", 0, kOffsetStored);  // unknown: ignored
  t.OnPosition("items", 0, 9);
  EXPECT_FALSE(t.caught_up());
  t.OnPosition("items", 0, 10);  // compacted tail or transaction markers
  EXPECT_TRUE(t.caught_up());
  // A rebalance adds a partition with a backlog: unready until it is read; revoking it
  // (or losing it) makes it stop counting.
  t.Expect("items", 1, 4, 0, 8);
  EXPECT_FALSE(t.caught_up());
  t.Forget("items", 1);
  EXPECT_TRUE(t.caught_up());
}

}  // namespace
}  // namespace streamrec::runtime
