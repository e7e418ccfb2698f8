#include "state/exactly_once.h"

#include <gtest/gtest.h>

#include "state/encoding.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::state {
namespace {

class ExactlyOnceTest : public ::testing::Test {
 protected:
  void Open() {
    db_.reset();
    StateDbOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {"meta", "outbox", "dedup"};
    auto db = StateDb::Open(o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    meta_ = std::make_unique<MetaTable>(db_.get(), *db_->ColumnFamily("meta"));
    outbox_ = std::make_unique<Outbox>(db_.get(), *db_->ColumnFamily("outbox"), meta_.get());
    ASSERT_TRUE(outbox_->Load().ok());
  }
  testing::TempDir dir_;
  std::unique_ptr<StateDb> db_;
  std::unique_ptr<MetaTable> meta_;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(ExactlyOnceTest, OffsetsAndOutboxSurviveReopenAndSequencesNeverRepeat) {
  Open();
  EXPECT_FALSE(meta_->LoadOffset("clicks", 3)->has_value());
  StateWriteBatch batch;
  OutboxMessage m1{"streamrec.cooc-deltas", 2, "k1", true, "v1", {{"h", "x"}}, 123};
  OutboxMessage m2{"streamrec.training-examples", -1, "", false, "v2", {}, 0};
  EXPECT_EQ(outbox_->Add(&batch, m1), 1u);
  EXPECT_EQ(outbox_->Add(&batch, m2), 2u);
  outbox_->SaveSequence(&batch);
  meta_->PutOffset(&batch, "clicks", 3, 42);
  ASSERT_TRUE(db_->Write(&batch).ok());

  Open();  // "restart"
  EXPECT_EQ(**meta_->LoadOffset("clicks", 3), 42);
  auto pending = outbox_->Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].first, 1u);
  EXPECT_EQ((*pending)[0].second, m1);
  EXPECT_EQ((*pending)[1].second, m2);
  // Delivered messages are deleted; the sequence continues after the highest ever used.
  StateWriteBatch del;
  outbox_->Delete(&del, 1);
  outbox_->Delete(&del, 2);
  ASSERT_TRUE(db_->Write(&del).ok());
  Open();
  EXPECT_TRUE(outbox_->Pending()->empty());
  StateWriteBatch b3;
  EXPECT_EQ(outbox_->Add(&b3, m1), 3u);
}

TEST_F(ExactlyOnceTest, UncommittedOutboxMessagesAreLostWithTheirState) {
  Open();
  StateWriteBatch batch;
  outbox_->Add(&batch, OutboxMessage{"t", 0, "k", true, "v", {}, 0});
  outbox_->SaveSequence(&batch);
  // Crash before Write: nothing of it exists after the restart, not even the sequence.
  Open();
  EXPECT_TRUE(outbox_->Pending()->empty());
  EXPECT_EQ(outbox_->next_sequence(), 1u);
}

TEST_F(ExactlyOnceTest, DedupFilterDropsResendsAndRemembersMarksInTheBatch) {
  Open();
  StateWriteBatch batch;
  KeyValueStore marks("dedup", db_.get(), *db_->ColumnFamily("dedup"), &batch);
  DedupFilter filter(&marks);
  EXPECT_TRUE(*filter.Admit(0, 1));
  EXPECT_TRUE(*filter.Admit(0, 2));
  EXPECT_FALSE(*filter.Admit(0, 2)) << "same message twice in one batch";
  EXPECT_FALSE(*filter.Admit(0, 1));
  EXPECT_TRUE(*filter.Admit(1, 1)) << "marks are per source partition";
  EXPECT_TRUE(*filter.Admit(0, 5)) << "gaps are fine: sequences go to several partitions";
  marks.PrepareCommit();
  ASSERT_TRUE(db_->Write(&batch).ok());
  batch.Clear();
  marks.OnCommitted();

  Open();  // the marks were committed with the batch
  StateWriteBatch batch2;
  KeyValueStore marks2("dedup", db_.get(), *db_->ColumnFamily("dedup"), &batch2);
  DedupFilter filter2(&marks2);
  EXPECT_EQ(*filter2.Mark(0), 5u);
  EXPECT_EQ(*filter2.Mark(1), 1u);
  EXPECT_EQ(*filter2.Mark(7), 0u);
  EXPECT_FALSE(*filter2.Admit(0, 4));
  EXPECT_TRUE(*filter2.Admit(0, 6));
}

TEST(SourceMarkTest, FormatAndParse) {
  int32_t p = -1;
  uint64_t s = 0;
  ASSERT_TRUE(ParseSourceMark(FormatSourceMark(3, 1234567890123ULL), &p, &s));
  EXPECT_EQ(p, 3);
  EXPECT_EQ(s, 1234567890123ULL);
  EXPECT_FALSE(ParseSourceMark("3", &p, &s));
  EXPECT_FALSE(ParseSourceMark("-1:3", &p, &s));
  EXPECT_FALSE(ParseSourceMark("1:x", &p, &s));
  EXPECT_FALSE(ParseSourceMark("1:2:3", &p, &s));
}

TEST(OutboxMessageTest, DecodeRejectsTruncation) {
  const std::string bytes = EncodeOutboxMessage(OutboxMessage{"t", 1, "k", true, "v", {{"a", "b"}}, 5});
  for (size_t cut = 0; cut < bytes.size(); ++cut) EXPECT_FALSE(DecodeOutboxMessage(bytes.substr(0, cut)).ok());
  EXPECT_TRUE(DecodeOutboxMessage(bytes).ok());
}

TEST(SourceMarkTest, EpochAndOffsetsRoundTripAndLegacyFormParses) {
  SourceMark m;
  m.partition = 2;
  m.sequence = 17;
  m.epoch = 1234567;
  m.first_offset = 100;
  m.next_offset = 105;
  EXPECT_EQ(FormatSourceMark(m), "2:17@1234567:100-105");
  SourceMark back;
  ASSERT_TRUE(ParseSourceMark(FormatSourceMark(m), &back));
  EXPECT_EQ(back.partition, 2);
  EXPECT_EQ(back.sequence, 17u);
  EXPECT_EQ(back.epoch, 1234567u);
  EXPECT_EQ(back.first_offset, 100);
  EXPECT_EQ(back.next_offset, 105);
  ASSERT_TRUE(ParseSourceMark("4:9", &back));
  EXPECT_EQ(back.epoch, 0u);
  EXPECT_EQ(back.first_offset, -1);
  EXPECT_FALSE(ParseSourceMark("4:9@", &back));
  EXPECT_FALSE(ParseSourceMark("4:9@1:5", &back));
  EXPECT_FALSE(ParseSourceMark("4:9@1:5-4", &back)) << "an empty range is fine, a negative one is not";
  EXPECT_TRUE(ParseSourceMark("4:9@1:5-5", &back));
}

SourceMark Mark(int32_t p, uint64_t epoch, uint64_t seq, int64_t first, int64_t next) {
  SourceMark m;
  m.partition = p;
  m.epoch = epoch;
  m.sequence = seq;
  m.first_offset = first;
  m.next_offset = next;
  return m;
}

// A source's store was lost: its new epoch restarts the sequence at 1 and replays its
// input from offset 0, one record per message. What was applied before (offsets < 50
// for the deltas, < 40 for the peer counts) is dropped, the rest applied once.
TEST(SourceMarkTest, ANewEpochIsAppliedFromWhereTheOldOneStopped) {
  SourcePosition pos;
  Admission a = JudgeSourceMark(Mark(0, 7, 1, 0, 40), /*has_peer=*/true, /*known=*/false, &pos);
  EXPECT_TRUE(a.apply && a.apply_peer);
  a = JudgeSourceMark(Mark(0, 7, 2, 40, 50), false, true, &pos);
  EXPECT_TRUE(a.apply);
  EXPECT_EQ(pos, (SourcePosition{7, 2, 50, 40}));
  a = JudgeSourceMark(Mark(0, 7, 2, 40, 50), false, true, &pos);
  EXPECT_TRUE(a.duplicate) << "a re-send within the epoch";

  // Epoch 9 replays from 0, record by record.
  a = JudgeSourceMark(Mark(0, 9, 1, 3, 4), true, true, &pos);
  EXPECT_TRUE(a.duplicate) << "offset 3 was applied, peer counts too";
  a = JudgeSourceMark(Mark(0, 9, 2, 41, 42), true, true, &pos);
  EXPECT_FALSE(a.apply);
  EXPECT_TRUE(a.apply_peer) << "offset 41's deltas were applied, its peer counts were not";
  EXPECT_FALSE(a.restart);
  a = JudgeSourceMark(Mark(0, 9, 2, 41, 42), true, true, &pos);
  EXPECT_TRUE(a.duplicate) << "re-sent before the epoch took over: the offsets still decide";
  a = JudgeSourceMark(Mark(0, 9, 3, 49, 50), false, true, &pos);
  EXPECT_TRUE(a.duplicate);
  a = JudgeSourceMark(Mark(0, 9, 4, 50, 51), false, true, &pos);
  EXPECT_TRUE(a.apply && a.restart && !a.overlap);
  EXPECT_EQ(pos.epoch, 9u);
  a = JudgeSourceMark(Mark(0, 9, 4, 50, 51), false, true, &pos);
  EXPECT_TRUE(a.duplicate) << "from now on the new epoch's sequence decides";
  a = JudgeSourceMark(Mark(0, 9, 5, 51, 60), false, true, &pos);
  EXPECT_TRUE(a.apply && !a.restart);

  // A restart whose first message straddles what was applied cannot be exact: said.
  a = JudgeSourceMark(Mark(0, 11, 1, 55, 70), false, true, &pos);
  EXPECT_TRUE(a.apply && a.overlap);
}

TEST_F(ExactlyOnceTest, DedupFilterKeepsEpochsAndReadsLegacyMarks) {
  Open();
  StateWriteBatch batch;
  KeyValueStore marks("dedup", db_.get(), *db_->ColumnFamily("dedup"), &batch);
  std::string legacy;
  PutFixed64(&legacy, 12);
  marks.Put(Key64(3), legacy);  // a mark written before epochs
  DedupFilter filter(&marks);
  EXPECT_EQ(*filter.Mark(3), 12u);
  EXPECT_FALSE(*filter.Admit(3, 12));
  EXPECT_TRUE(*filter.Admit(3, 13));
  EXPECT_TRUE(filter.Admit(Mark(1, 5, 1, 0, 10), false)->apply);
  EXPECT_TRUE(filter.Admit(Mark(1, 6, 1, 0, 10), false)->duplicate) << "a restart re-sending applied offsets";
  EXPECT_TRUE(filter.Admit(Mark(1, 6, 2, 10, 11), false)->restart);
  auto pos = filter.Position(1);
  ASSERT_TRUE(pos.ok() && pos->has_value());
  EXPECT_EQ(**pos, (SourcePosition{6, 2, 11, -1}));
}

TEST_F(ExactlyOnceTest, AFreshOutboxStartsAnEpochThatSurvivesReopen) {
  Open();
  EXPECT_TRUE(outbox_->fresh());
  StateWriteBatch batch;
  outbox_->StartEpoch(&batch, 77, 120);
  ASSERT_TRUE(db_->Write(&batch).ok());
  Open();
  EXPECT_FALSE(outbox_->fresh());
  EXPECT_EQ(outbox_->epoch(), 77u);
  EXPECT_EQ(outbox_->replay_until(), 120);
}

}  // namespace
}  // namespace streamrec::state
