// A StreamTask with a changelog (an in-memory log standing in for the Kafka topic): a
// missing store is restored to exactly what it was (state, offsets, sequence, epoch,
// outbox) and processing resumes where it stopped; without the restore it starts over;
// a crash between a commit and its changelog is repaired on reopen; a stale copy (older
// than what another copy committed) is replaced by the changelog's state.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/changelog_source.h"
#include "runtime/processor.h"
#include "runtime/stream_task.h"
#include "state/changelog.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::runtime {
namespace {

constexpr char kCounts[] = "counts";
constexpr char kLast[] = "last";

class CountingProcessor : public Processor {
 public:
  Status Init(ProcessorContext* context) override {
    context_ = context;
    counts_ = context->GetStore<state::CounterStore>(kCounts);
    last_ = context->GetStore<state::KeyValueStore>(kLast);
    return counts_ != nullptr && last_ != nullptr ? Status::Ok() : Status::Internal("stores");
  }
  Status Process(const Record& record) override {
    counts_->Add(record.key, 1.0);
    if (record.value == "del") {
      last_->Delete(record.key);
    } else {
      last_->Put(record.key, record.value);
    }
    OutputRecord out;
    out.topic = "out";
    out.key = record.key;
    out.value = record.value;
    context_->Forward(std::move(out));
    return Status::Ok();
  }

 private:
  ProcessorContext* context_ = nullptr;
  state::CounterStore* counts_ = nullptr;
  state::KeyValueStore* last_ = nullptr;
};

Topology CountingTopology() {
  Topology t;
  t.name = "count";
  t.source_topic = "in";
  t.stores = {{kCounts, StoreSpec::Kind::kCounter}, {kLast, StoreSpec::Kind::kKeyValue}};
  t.processor_supplier = [] { return std::make_unique<CountingProcessor>(); };
  return t;
}

class MemoryChangelog : public ChangelogSource {
 public:
  const std::string& topic() const override { return topic_; }
  Result<std::pair<int64_t, int64_t>> Watermarks(int32_t partition) override {
    return std::make_pair(int64_t{0}, static_cast<int64_t>(log_[partition].size()));
  }
  Status Read(int32_t partition, int64_t from, int64_t to,
              const std::function<Status(const state::ChangelogEntry&)>& fn) override {
    for (int64_t o = from; o < to; ++o) STREAMREC_RETURN_IF_ERROR(fn(log_[partition][static_cast<size_t>(o)]));
    return Status::Ok();
  }
  // Appends `records` (or its first `limit`), acknowledging the marker when it is in.
  void Append(StreamTask* task, const state::ChangelogWriter::CommitRecords& batch, size_t limit = SIZE_MAX) {
    auto& log = log_[task->partition()];
    for (size_t i = 0; i < batch.records.size() && i < limit; ++i) {
      state::ChangelogEntry e = batch.records[i];
      e.offset = static_cast<int64_t>(log.size());
      log.push_back(e);
      if (i + 1 == batch.records.size()) task->OnChangelogDelivered(batch.commit, e.offset);
    }
  }
  size_t size(int32_t p) { return log_[p].size(); }

 private:
  std::string topic_ = "count-changelog";
  std::map<int32_t, std::vector<state::ChangelogEntry>> log_;
};

// Every logged key and value of a task's store.
std::map<std::string, std::string> Contents(StreamTask* task) {
  std::map<std::string, std::string> out;
  state::StateDb* db = task->db();
  for (const std::string& name : db->ColumnFamilyNames()) {
    auto it = db->NewIterator(*db->ColumnFamily(name));
    for (; it->Valid(); it->Next()) {
      if (state::IsLoggedKey(name, it->key())) {
        out[state::EncodeChangelogRecordKey(name, it->key())] = std::string(it->value());
      }
    }
  }
  return out;
}

class ChangelogTaskTest : public ::testing::Test {
 protected:
  std::unique_ptr<StreamTask> Open(const std::string& dir, bool restore = true) {
    StreamTaskOptions o;
    o.state_dir = dir;
    o.changelog = &log_;
    o.restore = restore;
    o.sync_commits = false;
    auto task = StreamTask::Open(CountingTopology(), kPartition, o);
    EXPECT_TRUE(task.ok()) << task.status().ToString();
    return task.ok() ? std::move(task).value() : nullptr;
  }
  // Processes offsets [from, to) ("key<offset % 7>", deleting every 5th), committing
  // every `every` records and sending each commit's changelog (what the runner does).
  void Run(StreamTask* task, int64_t from, int64_t to, int every = 10) {
    for (int64_t o = from; o < to; ++o) {
      Record r;
      r.topic = "in";
      r.partition = kPartition;
      r.offset = o;
      r.key = "key" + std::to_string(o % 7);
      r.value = o % 5 == 4 ? "del" : "v" + std::to_string(o);
      r.timestamp_ms = 1000 + o;
      auto processed = task->Process(r);
      ASSERT_TRUE(processed.ok());
      if ((o + 1) % every == 0 || o + 1 == to) {
        auto out = task->CommitState();
        ASSERT_TRUE(out.ok());
        for (const auto& p : *out) task->MarkDelivered(p.sequence);
        SendChangelog(task);
      }
    }
  }
  void SendChangelog(StreamTask* task, size_t limit = SIZE_MAX) {
    auto batch = task->TakeChangelog();
    ASSERT_TRUE(batch.ok());
    log_.Append(task, *batch, limit);
  }
  std::string StoreDir(const std::string& root) { return root + "/count-" + std::to_string(kPartition); }

  static constexpr int32_t kPartition = 2;
  MemoryChangelog log_;
};

TEST_F(ChangelogTaskTest, AMissingStoreIsRestoredExactlyAndResumesWhereItStopped) {
  testing::TempDir a, b;
  std::map<std::string, std::string> before;
  uint64_t epoch = 0;
  {
    auto task = Open(a.path());
    ASSERT_NE(task, nullptr);
    EXPECT_FALSE(task->restore_stats().restored);  // nothing logged yet
    Run(task.get(), 0, 95);
    // The last outputs were never delivered: they stay in the outbox.
    Record r;
    r.topic = "in";
    r.partition = kPartition;
    r.offset = 95;
    r.key = "late";
    r.value = "x";
    ASSERT_TRUE(task->Process(r).ok());
    ASSERT_TRUE(task->CommitState().ok());
    SendChangelog(task.get());
    before = Contents(task.get());
    epoch = task->epoch();
  }
  // Another replica, with no local copy.
  auto restored = Open(b.path());
  ASSERT_NE(restored, nullptr);
  EXPECT_TRUE(restored->restore_stats().restored);
  EXPECT_GT(restored->restore_stats().records, 0);
  EXPECT_EQ(restored->restore_stats().discarded, 0);
  EXPECT_EQ(Contents(restored.get()), before);
  EXPECT_EQ(restored->stored_offset(), std::optional<int64_t>(96));
  EXPECT_EQ(restored->epoch(), epoch);  // the same epoch: downstream dedups its re-sends by sequence
  auto pending = restored->PendingOutbox();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].message.key, "late");
  // It goes on from there and logs under its own writer id.
  Run(restored.get(), 96, 120);
  auto* counts = dynamic_cast<state::CounterStore*>(restored->store(kCounts));
  auto v = counts->GetScalar("key0");
  ASSERT_TRUE(v.ok());
  double want = 0;
  for (int64_t o = 0; o < 120; ++o) want += o % 7 == 0 ? 1 : 0;
  EXPECT_EQ(*v, want);
}

TEST_F(ChangelogTaskTest, WithoutTheRestoreAMissingStoreStartsOver) {
  testing::TempDir a, b;
  {
    auto task = Open(a.path());
    Run(task.get(), 0, 50);
  }
  auto fresh = Open(b.path(), /*restore=*/false);
  ASSERT_NE(fresh, nullptr);
  EXPECT_FALSE(fresh->restore_stats().restored);
  EXPECT_FALSE(fresh->stored_offset().has_value());
}

TEST_F(ChangelogTaskTest, ACrashBetweenCommitAndChangelogIsRepairedOnReopen) {
  testing::TempDir a, b;
  std::map<std::string, std::string> before;
  {
    auto task = Open(a.path());
    Run(task.get(), 0, 40);
    // A commit whose changelog was cut after two records (a torn tail)...
    Run(task.get(), 40, 45, /*every=*/1000);  // processed, committed below
    ASSERT_TRUE(task->CommitState().ok());
    SendChangelog(task.get(), /*limit=*/2);
    // ...and one never sent (the process died right after the write).
    Record r;
    r.topic = "in";
    r.partition = kPartition;
    r.offset = 45;
    r.key = "key-crash";
    r.value = "y";
    ASSERT_TRUE(task->Process(r).ok());
    ASSERT_TRUE(task->CommitState().ok());
    before = Contents(task.get());
  }
  {
    // A restore now would miss both commits.
    testing::TempDir c;
    auto early = Open(c.path());
    ASSERT_NE(early, nullptr);
    EXPECT_NE(Contents(early.get()), before);
    EXPECT_GT(early->restore_stats().discarded, 0);
  }
  {
    // The same copy reopened re-sends what was not acknowledged.
    auto reopened = Open(a.path());
    ASSERT_NE(reopened, nullptr);
    EXPECT_FALSE(reopened->restore_stats().restored);
    EXPECT_GT(reopened->restore_stats().resent_keys, 0);
    SendChangelog(reopened.get());
  }
  auto restored = Open(b.path());
  ASSERT_NE(restored, nullptr);
  EXPECT_TRUE(restored->restore_stats().restored);
  EXPECT_EQ(Contents(restored.get()), before);
}

TEST_F(ChangelogTaskTest, AStaleCopyIsReplacedByTheChangelog) {
  testing::TempDir a, b;
  {
    auto task = Open(a.path());
    Run(task.get(), 0, 30);
  }
  // Replica B takes over (restores) and goes on.
  std::map<std::string, std::string> newest;
  {
    auto other = Open(b.path());
    ASSERT_TRUE(other->restore_stats().restored);
    Run(other.get(), 30, 70);
    newest = Contents(other.get());
  }
  // The partition comes back to A, whose copy stops at offset 30.
  auto back = Open(a.path());
  ASSERT_NE(back, nullptr);
  EXPECT_TRUE(back->restore_stats().stale_copy);
  EXPECT_EQ(back->stored_offset(), std::optional<int64_t>(70));
  EXPECT_EQ(Contents(back.get()), newest);
}

TEST_F(ChangelogTaskTest, AnOlderCopyOfTheSameWriterIsStaleToo) {
  testing::TempDir a, copy;
  std::map<std::string, std::string> newest;
  {
    auto task = Open(a.path());
    Run(task.get(), 0, 30);
    ASSERT_TRUE(task->Checkpoint(StoreDir(copy.path())).ok());  // a copy at offset 30
    Run(task.get(), 30, 60);
    newest = Contents(task.get());
  }
  auto old = Open(copy.path());
  ASSERT_NE(old, nullptr);
  EXPECT_TRUE(old->restore_stats().stale_copy);
  EXPECT_EQ(Contents(old.get()), newest);
}

// --reset-state with a changelog: the store starts over, and the changelog says so
// (tombstones), so a later restore does not bring the old state back.
TEST_F(ChangelogTaskTest, DiscardingTheStateTombstonesItInTheChangelog) {
  testing::TempDir a, b;
  {
    auto task = Open(a.path());
    Run(task.get(), 0, 40);
  }
  {
    StreamTaskOptions o;
    o.state_dir = a.path();
    o.changelog = &log_;
    o.discard_state = true;
    o.sync_commits = false;
    auto reset = StreamTask::Open(CountingTopology(), kPartition, o);
    ASSERT_TRUE(reset.ok()) << reset.status().ToString();
    EXPECT_FALSE((*reset)->stored_offset().has_value());
    auto* counts = dynamic_cast<state::CounterStore*>((*reset)->store(kCounts));
    EXPECT_EQ(*counts->GetScalar("key0"), 0.0);
    Run(reset->get(), 0, 5);  // the new instance of the source: 5 records
  }
  auto restored = Open(b.path());
  ASSERT_NE(restored, nullptr);
  EXPECT_TRUE(restored->restore_stats().restored);
  EXPECT_EQ(restored->stored_offset(), std::optional<int64_t>(5));
  auto* counts = dynamic_cast<state::CounterStore*>(restored->store(kCounts));
  EXPECT_EQ(*counts->GetScalar("key0"), 1.0);  // offset 0 only
  EXPECT_EQ(*counts->GetScalar("key6"), 0.0);  // offsets 6, 13, ... were before the reset
}

// Flips one byte at 2/5 of the largest SST file of the store in `dir` (false: none).
bool FlipSstByte(const std::string& dir) {
  std::string sst;
  uintmax_t largest = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".sst" && e.file_size() > largest) {
      largest = e.file_size();
      sst = e.path().string();
    }
  }
  if (sst.empty()) return false;
  std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
  const auto at = static_cast<std::streamoff>(largest * 2 / 5);
  char c = 0;
  f.seekg(at);
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(at);
  f.write(&c, 1);
  return f.good();
}

// Issue 14 item 7: a store whose SST fails its checksum at open is moved aside (kept)
// and restored from the changelog, exactly as it was committed; without a changelog
// restore the open fails with the Corruption error.
TEST_F(ChangelogTaskTest, ACorruptedStoreIsMovedAsideAndRestoredFromTheChangelog) {
  testing::TempDir a;
  std::map<std::string, std::string> before;
  {
    auto task = Open(a.path());
    ASSERT_NE(task, nullptr);
    Run(task.get(), 0, 200);
    ASSERT_TRUE(task->db()->Flush().ok());
    before = Contents(task.get());
  }
  ASSERT_TRUE(FlipSstByte(StoreDir(a.path())));
  {
    StreamTaskOptions o;
    o.state_dir = a.path();
    o.changelog = &log_;
    o.restore = false;  // no rebuild without the restore
    o.sync_commits = false;
    auto refused = StreamTask::Open(CountingTopology(), kPartition, o);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kCorruption) << refused.status().ToString();
  }
  auto rebuilt = Open(a.path());
  ASSERT_NE(rebuilt, nullptr);
  const ChangelogRestoreStats& stats = rebuilt->restore_stats();
  EXPECT_TRUE(stats.restored);
  ASSERT_FALSE(stats.corrupted_moved_to.empty());
  EXPECT_EQ(stats.corrupted_moved_to.rfind(StoreDir(a.path()) + ".corrupted-", 0), 0u) << stats.corrupted_moved_to;
  EXPECT_TRUE(std::filesystem::is_directory(stats.corrupted_moved_to)) << "kept for inspection";
  EXPECT_EQ(Contents(rebuilt.get()), before);
  EXPECT_EQ(rebuilt->stored_offset(), std::optional<int64_t>(200));
}

}  // namespace
}  // namespace streamrec::runtime
