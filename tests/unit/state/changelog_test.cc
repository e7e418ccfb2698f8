// The changelog's encoding, its restorer (records applied only at their commit's marker;
// a torn tail discarded and reported; tombstones delete) and its writer (values after the
// commit with merges resolved; pending keys kept in the commit's own batch until their
// marker is acknowledged; what a reopened copy must re-send).
#include "state/changelog.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/byte_codec.h"
#include "state/exactly_once.h"
#include "state/state_db.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::state {
namespace {

std::unique_ptr<StateDb> OpenDb(const std::string& path) {
  StateDbOptions o;
  o.path = path;
  o.column_families = {"meta", "outbox", kChangelogPendingFamily, "kv", "counts"};
  o.counter_column_families = {"counts"};
  auto db = StateDb::Open(o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

ColumnFamilyId Cf(StateDb* db, const std::string& name) { return *db->ColumnFamily(name); }

// Every logged key and value of a store, by column family.
std::map<std::string, std::map<std::string, std::string>> Contents(StateDb* db) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const std::string& name : db->ColumnFamilyNames()) {
    auto it = db->NewIterator(Cf(db, name));
    for (; it->Valid(); it->Next()) {
      if (IsLoggedKey(name, it->key())) out[name][std::string(it->key())] = std::string(it->value());
    }
  }
  return out;
}

ChangelogEntry Rec(int64_t offset, const std::string& cf, const std::string& key, std::optional<std::string> value) {
  return ChangelogEntry{offset, EncodeChangelogRecordKey(cf, key), std::move(value)};
}

ChangelogEntry Marker(int64_t offset, uint64_t writer, uint64_t commit, int64_t source_next = 0) {
  return ChangelogEntry{offset, ChangelogMarkerKey(), ChangelogMarker{writer, commit, source_next}.Encode()};
}

TEST(ChangelogEncoding, KeysMarkersAndValuesRoundTrip) {
  auto k = DecodeChangelogKey(EncodeChangelogRecordKey("kv", std::string("a\0b", 3)));
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->marker);
  EXPECT_EQ(k->cf_name, "kv");
  EXPECT_EQ(k->key, std::string("a\0b", 3));
  auto m = DecodeChangelogKey(ChangelogMarkerKey());
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->marker);
  EXPECT_FALSE(DecodeChangelogKey("").ok());
  EXPECT_FALSE(DecodeChangelogKey(std::string("\x01\x05kv", 4)).ok());  // name longer than the key

  ChangelogMarker marker{7, 42, 1000};
  auto decoded = ChangelogMarker::Decode(marker.Encode());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, marker);
  EXPECT_FALSE(ChangelogMarker::Decode(marker.Encode().substr(1)).ok());

  // An empty value stays distinguishable from a tombstone (a null Kafka value).
  auto empty = DecodeChangelogValue(EncodeChangelogValue(""));
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->has_value());
  EXPECT_EQ(**empty, "");
  auto tomb = DecodeChangelogValue("");
  ASSERT_TRUE(tomb.ok());
  EXPECT_FALSE(tomb->has_value());
  EXPECT_FALSE(DecodeChangelogValue("x").ok());

  EXPECT_FALSE(IsLoggedKey(kChangelogPendingFamily, "anything"));
  EXPECT_FALSE(IsLoggedKey("meta", "changelog.writer"));
  EXPECT_TRUE(IsLoggedKey("meta", "outbox.next_sequence"));
  EXPECT_TRUE(IsLoggedKey("kv", "changelog.x"));
}

TEST(ChangelogRestorer, AppliesWholeCommitsTombstonesAndDiscardsTheTornTail) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_NE(db, nullptr);
  ChangelogRestorer restorer(db.get(), /*batch_bytes=*/1);  // a write at every marker
  const std::vector<ChangelogEntry> log = {
      Rec(0, "kv", "a", "1"), Rec(1, "kv", "b", "2"), Marker(2, 9, 1),
      Rec(3, "kv", "a", std::nullopt), Rec(4, "counts", "x", EncodeCounter(3.0)), Marker(5, 9, 2),
      Rec(6, "kv", "c", "torn"), Rec(7, "kv", "b", "torn"),  // no marker: torn
  };
  for (const auto& e : log) ASSERT_TRUE(restorer.Add(e).ok());
  auto summary = restorer.Finish();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->records, 4);
  EXPECT_EQ(summary->commits, 2);
  EXPECT_EQ(summary->discarded, 2);
  EXPECT_EQ(summary->next_offset, 6);
  ASSERT_TRUE(summary->last_marker.has_value());
  EXPECT_EQ(summary->last_marker->commit, 2u);
  EXPECT_EQ(summary->torn_keys,
            (std::vector<std::string>{EncodeChangelogRecordKey("kv", "c"), EncodeChangelogRecordKey("kv", "b")}));
  auto contents = Contents(db.get());
  EXPECT_EQ(contents["kv"], (std::map<std::string, std::string>{{"b", "2"}}));  // a deleted, c torn
  EXPECT_EQ(DecodeCounter(contents["counts"]["x"]), std::vector<double>{3.0});
}

TEST(ChangelogRestorer, RefusesAnotherStagesColumnFamily) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ChangelogRestorer restorer(db.get());
  Status st = restorer.Add(Rec(0, "windows", "a", "1"));
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
}

TEST(ChangelogRestorer, NothingBeforeTheFirstMarkerIsApplied) {
  testing::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ChangelogRestorer restorer(db.get());
  ASSERT_TRUE(restorer.Add(Rec(0, "kv", "a", "1")).ok());
  auto summary = restorer.Finish();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->commits, 0);
  EXPECT_EQ(summary->next_offset, -1);
  EXPECT_TRUE(Contents(db.get())["kv"].empty());
}

// The writer side: a log kept in memory, "delivered" by offset.
class ChangelogWriterTest : public ::testing::Test {
 protected:
  void Open() {
    db_ = OpenDb(dir_.Sub("db"));
    meta_ = std::make_unique<MetaTable>(db_.get(), Cf(db_.get(), "meta"));
    writer_ = std::make_unique<ChangelogWriter>(db_.get(), Cf(db_.get(), kChangelogPendingFamily), meta_.get());
    ASSERT_TRUE(writer_->Load().ok());
  }
  void Close() {
    writer_.reset();
    meta_.reset();
    db_.reset();
  }
  // Tracks and writes a batch (what StreamTask::WriteTracked does).
  void Write(StateWriteBatch* b) {
    ASSERT_TRUE(writer_->Track(b).ok());
    ASSERT_TRUE(db_->Write(b).ok());
  }
  // Appends the unsent records to the log; returns the marker's commit (0: nothing).
  uint64_t Send(bool deliver) {
    auto batch = writer_->Take(/*source_next_offset=*/0);
    EXPECT_TRUE(batch.ok());
    if (batch->records.empty()) return 0;
    for (auto e : batch->records) {
      e.offset = static_cast<int64_t>(log_.size());
      log_.push_back(e);
    }
    if (deliver) writer_->OnDelivered(batch->commit, static_cast<int64_t>(log_.size()) - 1);
    return batch->commit;
  }
  // The record keys the pending family holds: those listed in pending sets, and keys
  // with an entry of their own.
  std::set<std::string> PendingKeys() {
    std::set<std::string> keys;
    auto it = db_->NewIterator(Cf(db_.get(), kChangelogPendingFamily));
    for (; it->Valid(); it->Next()) {
      if (it->key().substr(0, 1) != ChangelogPendingSetKey(0).substr(0, 1)) {
        keys.emplace(it->key());
        continue;
      }
      ByteReader r(it->value());
      std::string k;
      while (!r.AtEnd()) {
        EXPECT_TRUE(r.GetString(&k));
        keys.insert(k);
      }
    }
    return keys;
  }
  size_t PendingEntries() {
    size_t n = 0;
    auto it = db_->NewIterator(Cf(db_.get(), kChangelogPendingFamily));
    for (; it->Valid(); it->Next()) ++n;
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<StateDb> db_;
  std::unique_ptr<MetaTable> meta_;
  std::unique_ptr<ChangelogWriter> writer_;
  std::vector<ChangelogEntry> log_;
};

TEST_F(ChangelogWriterTest, SendsValuesAfterTheCommitAndKeepsKeysPendingUntilAcknowledged) {
  Open();
  const ColumnFamilyId counts = Cf(db_.get(), "counts");
  const ColumnFamilyId kv = Cf(db_.get(), "kv");
  StateWriteBatch b;
  b.Merge(counts, "x", EncodeCounter(2.0));
  b.Put(kv, "a", "1");
  Write(&b);
  // Pending in the same batch as the change (the local meta keys are not logged).
  EXPECT_EQ(PendingKeys().count(EncodeChangelogRecordKey("meta", "changelog.commit")), 0u);  // local, not logged
  EXPECT_EQ(PendingKeys().size(), 2u);
  EXPECT_EQ(PendingEntries(), 1u) << "one pending set per commit, not an entry per key";
  b.Clear();
  b.Merge(counts, "x", EncodeCounter(3.0));
  b.Delete(kv, "a");
  Write(&b);
  const uint64_t c1 = Send(/*deliver=*/false);
  ASSERT_NE(c1, 0u);
  // One record per key with the merged value and a tombstone, then the marker.
  ASSERT_EQ(log_.size(), 3u);
  std::map<std::string, std::optional<std::string>> sent;
  for (size_t i = 0; i + 1 < log_.size(); ++i) sent[log_[i].key] = log_[i].value;
  EXPECT_EQ(DecodeCounter(*sent[EncodeChangelogRecordKey("counts", "x")]), std::vector<double>{5.0});
  EXPECT_FALSE(sent[EncodeChangelogRecordKey("kv", "a")].has_value());
  EXPECT_EQ(log_.back().key, ChangelogMarkerKey());
  // Not acknowledged: still pending after the next write.
  b.Clear();
  b.Put(kv, "b", "2");
  Write(&b);
  EXPECT_EQ(PendingKeys().size(), 3u);
  writer_->OnDelivered(c1, 2);
  EXPECT_EQ(writer_->acked_offset(), 3);
  b.Clear();
  b.Put(kv, "c", "3");
  Write(&b);
  // x and a left the pending family; b (unsent) and c stay.
  EXPECT_EQ(PendingKeys(), (std::set<std::string>{EncodeChangelogRecordKey("kv", "b"), EncodeChangelogRecordKey("kv", "c")}));
  // Sent and acknowledged: the next write leaves the family empty.
  const uint64_t c2 = Send(/*deliver=*/true);
  ASSERT_NE(c2, 0u);
  b.Clear();
  b.Put(Cf(db_.get(), "meta"), "changelog.local", "x");  // a local key: nothing to log
  Write(&b);
  EXPECT_EQ(PendingEntries(), 0u);
}

TEST_F(ChangelogWriterTest, KeysPendingOneByOneFromAnOlderStoreAreResentAndCleared) {
  Open();
  const ColumnFamilyId kv = Cf(db_.get(), "kv");
  const ColumnFamilyId pending = Cf(db_.get(), kChangelogPendingFamily);
  StateWriteBatch b;
  b.Put(kv, "old", "value");
  b.Put(pending, EncodeChangelogRecordKey("kv", "old"), "");  // the layout before pending sets
  ASSERT_TRUE(db_->Write(&b).ok());
  Close();
  Open();
  EXPECT_EQ(writer_->unsent(), 1u);
  b.Clear();
  b.Put(kv, "new", "1");
  Write(&b);
  EXPECT_EQ(PendingKeys(), (std::set<std::string>{EncodeChangelogRecordKey("kv", "old"), EncodeChangelogRecordKey("kv", "new")}));
  ASSERT_NE(Send(/*deliver=*/true), 0u);
  std::map<std::string, std::optional<std::string>> sent;
  for (size_t i = 0; i + 1 < log_.size(); ++i) sent[log_[i].key] = log_[i].value;
  EXPECT_EQ(sent[EncodeChangelogRecordKey("kv", "old")], std::optional<std::string>("value")) << "read from the store";
  EXPECT_EQ(sent[EncodeChangelogRecordKey("kv", "new")], std::optional<std::string>("1"));
  b.Clear();
  Write(&b);
  EXPECT_EQ(PendingEntries(), 0u) << "the old entry and the set both left once acknowledged";
}

TEST_F(ChangelogWriterTest, AKeyChangedAgainWhileInFlightStaysPendingAfterTheFirstAcknowledgement) {
  Open();
  const ColumnFamilyId counts = Cf(db_.get(), "counts");
  StateWriteBatch b;
  b.Merge(counts, "x", EncodeCounter(1.0));
  Write(&b);
  const uint64_t c1 = Send(/*deliver=*/false);
  b.Clear();
  b.Merge(counts, "x", EncodeCounter(1.0));
  Write(&b);
  const uint64_t c2 = Send(/*deliver=*/false);
  ASSERT_LT(c1, c2);
  writer_->OnDelivered(c1, 1);
  b.Clear();
  Write(&b);
  EXPECT_EQ(PendingKeys(), std::set<std::string>{EncodeChangelogRecordKey("counts", "x")}) << "c2 not acknowledged";
  // A crash now: the reopened copy re-sends x.
  Close();
  Open();
  EXPECT_EQ(writer_->unsent(), 1u);
  ASSERT_NE(Send(/*deliver=*/true), 0u);
  EXPECT_EQ(DecodeCounter(*log_[log_.size() - 2].value), std::vector<double>{2.0});
  b.Clear();
  Write(&b);
  EXPECT_EQ(PendingEntries(), 0u);
}

TEST_F(ChangelogWriterTest, AReopenedCopyResendsWhatWasNotAcknowledgedAndARestoreEqualsTheStore) {
  Open();
  const ColumnFamilyId counts = Cf(db_.get(), "counts");
  const ColumnFamilyId kv = Cf(db_.get(), "kv");
  const ColumnFamilyId meta = Cf(db_.get(), "meta");
  StateWriteBatch b;
  writer_->SetWriter(&b, /*writer=*/5, /*acked_offset=*/0);
  Write(&b);
  for (int i = 0; i < 20; ++i) {
    b.Clear();
    b.Merge(counts, "k" + std::to_string(i % 7), EncodeCounter(1.0 + i));
    b.Put(kv, "v" + std::to_string(i % 5), "value" + std::to_string(i));
    if (i % 6 == 5) b.Delete(kv, "v" + std::to_string((i + 1) % 5));
    b.Put(meta, "outbox.next_sequence", std::to_string(i));
    Write(&b);
    Send(/*deliver=*/i % 3 != 0);  // some acknowledgements never come (a crash would lose them)
  }
  // A commit whose records were cut off after the first one (a torn tail)...
  b.Clear();
  b.Put(kv, "v1", "torn-then-resent");
  b.Merge(counts, "k1", EncodeCounter(100.0));
  Write(&b);
  auto torn = writer_->Take(0);
  ASSERT_TRUE(torn.ok());
  ASSERT_GE(torn->records.size(), 3u);
  log_.push_back(torn->records[0]);
  log_.back().offset = static_cast<int64_t>(log_.size()) - 1;
  // ...and a commit never sent at all (a crash right after the write).
  b.Clear();
  b.Put(kv, "v9", "never-sent");
  Write(&b);
  const auto expected = Contents(db_.get());

  // The crash: what the log holds now misses the last two commits.
  {
    testing::TempDir other;
    auto restored = OpenDb(other.Sub("db"));
    ChangelogRestorer r(restored.get());
    for (const auto& e : log_) ASSERT_TRUE(r.Add(e).ok());
    ASSERT_TRUE(r.Finish().ok());
    EXPECT_NE(Contents(restored.get()), expected);
  }
  Close();
  Open();
  EXPECT_EQ(writer_->writer(), 5u);
  EXPECT_GT(writer_->unsent(), 0u);
  ASSERT_NE(Send(/*deliver=*/true), 0u);

  testing::TempDir other;
  auto restored = OpenDb(other.Sub("db"));
  ChangelogRestorer r(restored.get());
  for (const auto& e : log_) ASSERT_TRUE(r.Add(e).ok());
  auto summary = r.Finish();
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->discarded, 0);
  EXPECT_EQ(Contents(restored.get()), expected);
  // The local keys are not restored.
  MetaTable restored_meta(restored.get(), Cf(restored.get(), "meta"));
  auto w = restored_meta.LoadU64("changelog.writer");
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->has_value());
}

TEST_F(ChangelogWriterTest, TheOutboxIsNotPendingAndGoesOutWholeOnReopen) {
  Open();
  const ColumnFamilyId outbox = Cf(db_.get(), "outbox");
  StateWriteBatch b;
  b.Put(outbox, "m1", "message 1");
  b.Put(outbox, "m2", "message 2");
  Write(&b);
  EXPECT_TRUE(PendingKeys().empty());  // no pending write per output message
  Send(/*deliver=*/false);
  ASSERT_EQ(log_.size(), 3u);
  EXPECT_EQ(*log_[0].value, "message 1");  // the batch's value, not read back
  b.Clear();
  b.Delete(outbox, "m1");  // delivered: its deletion is pending like any change
  Write(&b);
  EXPECT_EQ(PendingKeys(), std::set<std::string>{EncodeChangelogRecordKey("outbox", "m1")});
  Send(/*deliver=*/false);  // the tombstone's acknowledgement never comes (a crash)
  EXPECT_FALSE(log_[3].value.has_value());
  // A reopened copy sends what its outbox still holds, and the pending tombstone again.
  Close();
  Open();
  EXPECT_EQ(writer_->unsent(), 2u);
  Send(/*deliver=*/true);
  std::map<std::string, std::optional<std::string>> resent;
  for (size_t i = 5; i + 1 < log_.size(); ++i) resent[log_[i].key] = log_[i].value;
  EXPECT_EQ(resent[EncodeChangelogRecordKey("outbox", "m2")], std::optional<std::string>("message 2"));
  ASSERT_EQ(resent.count(EncodeChangelogRecordKey("outbox", "m1")), 1u);
  EXPECT_FALSE(resent[EncodeChangelogRecordKey("outbox", "m1")].has_value());
}

TEST(ChangelogScan, FindsMarkersAndTheTornTail) {
  ChangelogScan scan;
  ASSERT_TRUE(scan.Add(Rec(0, "kv", "a", "1")).ok());
  ASSERT_TRUE(scan.Add(Marker(1, 3, 1)).ok());
  ASSERT_TRUE(scan.Add(Rec(2, "kv", "b", std::nullopt)).ok());
  ASSERT_EQ(scan.markers.size(), 1u);
  EXPECT_EQ(scan.markers[0].writer, 3u);
  EXPECT_EQ(scan.torn_keys, std::vector<std::string>{EncodeChangelogRecordKey("kv", "b")});
}

}  // namespace
}  // namespace streamrec::state
