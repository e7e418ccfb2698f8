// InputPosition: dedup by streamrec.src marks per (input partition, source partition),
// next offsets, and its encoding (stored in the trainer's snapshots).
#include <gtest/gtest.h>

#include "runtime/input_position.h"
#include "state/exactly_once.h"

namespace streamrec::runtime {
namespace {

Record Marked(int32_t partition, int64_t offset, int32_t source, uint64_t seq) {
  Record r;
  r.partition = partition;
  r.offset = offset;
  r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(source, seq)}};
  return r;
}

TEST(InputPositionTest, DropsResendsPerInputAndSourcePartition) {
  using V = InputPosition::Verdict;
  InputPosition pos;
  EXPECT_EQ(pos.Admit(Marked(0, 0, 7, 5)), V::kNew);
  EXPECT_EQ(pos.Admit(Marked(0, 1, 7, 9)), V::kNew);
  // Source 7's sequence 6 went to another input partition: not a duplicate there.
  EXPECT_EQ(pos.Admit(Marked(1, 0, 7, 6)), V::kNew);
  EXPECT_EQ(pos.Admit(Marked(0, 2, 7, 9)), V::kDuplicate);  // re-sent after a crash
  EXPECT_EQ(pos.Admit(Marked(0, 3, 7, 5)), V::kDuplicate);
  EXPECT_EQ(pos.Admit(Marked(0, 4, 8, 1)), V::kNew);         // another source partition
  Record bare;
  bare.partition = 0;
  bare.offset = 5;
  EXPECT_EQ(pos.Admit(bare), V::kUnmarked);
  EXPECT_EQ(pos.duplicates(), 2);
  EXPECT_EQ(pos.unmarked(), 1);
  EXPECT_EQ(pos.admitted(), 5);
  EXPECT_EQ(pos.next_offset(0), std::optional<int64_t>(6));
  EXPECT_EQ(pos.next_offset(1), std::optional<int64_t>(1));
  EXPECT_FALSE(pos.next_offset(2).has_value());
  EXPECT_EQ(pos.mark(0, 7), 9u);
  EXPECT_EQ(pos.mark(1, 7), 6u);

  auto decoded = InputPosition::Decode(pos.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == pos);
  EXPECT_EQ(decoded->Admit(Marked(0, 6, 7, 9)), V::kDuplicate);
}

TEST(InputPositionTest, RejectsCorruptBytes) {
  InputPosition pos;
  pos.Admit(Marked(0, 0, 1, 1));
  std::string bytes = pos.Encode();
  EXPECT_FALSE(InputPosition::Decode(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(InputPosition::Decode(bytes + "x").ok());
  bytes[0] = 9;
  EXPECT_FALSE(InputPosition::Decode(bytes).ok());
  EXPECT_FALSE(InputPosition::Decode("").ok());
}

}  // namespace
}  // namespace streamrec::runtime
