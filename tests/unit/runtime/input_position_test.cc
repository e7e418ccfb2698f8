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

Record Replayed(int32_t partition, int64_t offset, int32_t source, uint64_t epoch, uint64_t seq,
                int64_t source_offset) {
  state::SourceMark m;
  m.partition = source;
  m.epoch = epoch;
  m.sequence = seq;
  m.first_offset = source_offset;
  m.next_offset = source_offset + 1;
  Record r;
  r.partition = partition;
  r.offset = offset;
  r.headers = {{state::kSourceMarkHeader, state::FormatSourceMark(m)}};
  return r;
}

// The user stage lost its store: epoch 2 restarts the sequence at 1 and replays source
// offsets 0.. one example per message. Examples applied under epoch 1 (source offsets
// < 3 in this input partition) are dropped, the others applied once.
TEST(InputPositionTest, ANewSourceEpochIsAppliedFromTheFirstOffsetNotApplied) {
  using V = InputPosition::Verdict;
  InputPosition pos;
  EXPECT_EQ(pos.Admit(Replayed(0, 0, 4, 1, 10, 0)), V::kNew);
  EXPECT_EQ(pos.Admit(Replayed(0, 1, 4, 1, 12, 2)), V::kNew);
  EXPECT_EQ(pos.Admit(Replayed(0, 2, 4, 2, 1, 0)), V::kDuplicate);
  EXPECT_EQ(pos.Admit(Replayed(0, 3, 4, 2, 3, 2)), V::kDuplicate);
  EXPECT_EQ(pos.Admit(Replayed(0, 4, 4, 2, 4, 3)), V::kNew) << "offset 3 never reached this partition before";
  EXPECT_EQ(pos.restarts(), 1);
  EXPECT_EQ(pos.Admit(Replayed(0, 5, 4, 2, 4, 3)), V::kDuplicate) << "a re-send within the new epoch";
  EXPECT_EQ(pos.Admit(Replayed(0, 6, 4, 2, 7, 5)), V::kNew);
  auto decoded = InputPosition::Decode(pos.Encode());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == pos);
  EXPECT_EQ(decoded->Admit(Replayed(0, 7, 4, 2, 7, 5)), V::kDuplicate);
}

// Snapshots written before epochs (format 1: bare sequences) still load.
TEST(InputPositionTest, DecodesTheFormatBeforeEpochs) {
  std::string b;
  auto put = [&b](const void* p, size_t n) { b.append(static_cast<const char*>(p), n); };
  const uint8_t format = 1;
  const uint32_t one = 1, partition = 0, source = 7;
  const int64_t next = 42;
  const uint64_t seq = 9;
  const int64_t zero = 0, admitted = 3;
  put(&format, 1);
  put(&one, 4);
  put(&partition, 4);
  put(&next, 8);
  put(&one, 4);
  put(&partition, 4);
  put(&source, 4);
  put(&seq, 8);
  put(&zero, 8);
  put(&zero, 8);
  put(&admitted, 8);
  auto pos = InputPosition::Decode(b);
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  EXPECT_EQ(pos->mark(0, 7), 9u);
  EXPECT_EQ(pos->next_offset(0), std::optional<int64_t>(42));
  EXPECT_EQ(pos->Admit(Marked(0, 42, 7, 9)), InputPosition::Verdict::kDuplicate);
  EXPECT_EQ(pos->Admit(Marked(0, 43, 7, 10)), InputPosition::Verdict::kNew);
}

}  // namespace
}  // namespace streamrec::runtime
