#include "state/exactly_once.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace streamrec::state
