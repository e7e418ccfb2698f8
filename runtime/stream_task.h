#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "runtime/changelog_source.h"
#include "runtime/processor.h"
#include "runtime/punctuation_schedule.h"
#include "state/changelog.h"
#include "state/exactly_once.h"
#include "state/state_db.h"
#include "state/stores.h"

namespace streamrec::runtime {

struct StreamTaskOptions {
  // Root of the stage's state; the task's RocksDB is <state_dir>/<topology>-<partition>.
  std::string state_dir;
  // Wall clock for punctuation; null = SystemClock().
  const Clock* clock = nullptr;
  // How long Open() retries while another process still holds the partition's DB lock
  // (after a rebalance the previous owner may still be closing it). Default 30 s.
  int open_retry_ms = 30000;
  // Asked between those retries: true gives up at once (the stage is stopping) with
  // Unavailable. May be empty.
  std::function<bool()> stop;
  // Called once when the task opens a store without an outbox sequence (new, deleted or
  // lost): the source offset below which this partition's outputs may already have been
  // applied downstream (the stage's last committed group offset), nullopt when it never
  // ran. The task then starts a new epoch and replays below that offset record by record
  // (ProcessorContext::replaying). Null: treated as nullopt.
  std::function<std::optional<int64_t>()> previous_end_offset;
  // Sync the WAL on every commit (RocksDB WriteOptions::sync), before its outputs are
  // produced: a machine crash then cannot lose a commit whose outputs downstream stages
  // applied (which would make the task reuse their sequence numbers). Default true.
  bool sync_commits = true;
  // The stage's changelog (docs/DESIGN.md §3, "Changelog"); null: none. With one, every
  // write of the task tracks its logged keys (TakeChangelog gives their records), and
  // Open() restores a store that is missing from the changelog, or replaces a copy that
  // another writer has overtaken, before the processor starts. Not owned.
  ChangelogSource* changelog = nullptr;
  // With a changelog: restore a missing store from it (default true). False only to
  // show what the restore changes (tests): a missing store is then rebuilt from the
  // source, as without a changelog.
  bool restore = true;
  // With a changelog and `restore`: a store that StateDb::Open finds corrupted (a
  // checksum or MANIFEST error) is moved aside, renamed
  // <store>.corrupted-<UTC time>[-n] and kept for inspection (logged as an error), and
  // restored from the changelog like a missing store. Without a changelog (or with this
  // false) the open fails with the Corruption error, which says what to do. Default true.
  bool rebuild_corrupted = true;
  // With a changelog: discard the state the store (or its changelog) holds and start
  // over, through a logged write (tombstones for every key), so that no later restore
  // brings it back. The commands' --reset-state. Default false.
  bool discard_state = false;
};

// What a task's Open() did with the changelog.
struct ChangelogRestoreStats {
  bool restored = false;  // the store was restored (missing, or a stale copy replaced)
  bool stale_copy = false;  // a local copy was replaced (another writer committed after it)
  int64_t records = 0;    // records applied
  int64_t commits = 0;    // commit markers read
  int64_t discarded = 0;  // torn-tail records discarded
  double seconds = 0;
  int64_t resent_keys = 0;  // keys re-sent (pending, torn tail, or a store from before)
  // Where a corrupted store was moved before the restore ("" when none was).
  std::string corrupted_moved_to;
};

// A committed outbox message and its sequence number (for MarkDelivered).
struct PendingOutput {
  uint64_t sequence = 0;
  state::OutboxMessage message;
};

// One source partition's processor, stores, RocksDB and exactly-once bookkeeping
// (Kafka Streams' StreamTask). One thread (the stage's processing thread) uses it.
//
// Commit() writes ONE WriteBatch holding: the stores' pending writes, the records
// forwarded since the last commit (outbox, each with a `streamrec.src` mark
// "<partition>:<sequence>"), the next offset to consume, and deletions of outbox entries
// delivered since. After a crash the task reopens at exactly that point.
class StreamTask : private ProcessorContext {
 public:
  static Result<std::unique_ptr<StreamTask>> Open(const Topology& topology, int32_t partition,
                                                  const StreamTaskOptions& options);
  ~StreamTask() override;

  // The next source offset to consume (stored with the state), nullopt if never committed.
  std::optional<int64_t> stored_offset() const { return stored_offset_; }
  // The identity of the record at stored_offset() - 1 (the last one applied), nullopt
  // when not kept (a store from before it was, or none applied).
  const std::optional<state::RecordIdentity>& stored_last_record() const { return stored_last_record_; }
  // The epoch of this task's outbox sequence (0: a store from before epochs) and the
  // source offset below which it replays record by record (-1: none).
  uint64_t epoch() const { return outbox_->epoch(); }
  int64_t replay_until() const { return outbox_->replay_until(); }
  // Outbox messages committed but not yet confirmed delivered (to send after opening).
  Result<std::vector<PendingOutput>> PendingOutbox() const;

  // Processes one source record. Records below the stored offset are skipped (false).
  Result<bool> Process(const Record& record);
  // Runs due wall-clock punctuations.
  Status Punctuate();
  bool commit_requested() const { return commit_requested_; }
  // Flushes the processor and commits; returns the newly committed outbox messages, to be
  // produced in order. `closing`: the last commit before the task closes.
  Result<std::vector<PendingOutput>> CommitState(bool closing = false);
  // A committed outbox message was delivered: deleted in the next commit.
  void MarkDelivered(uint64_t sequence) { delivered_.push_back(sequence); }
  // Writes pending outbox deletions now (without a full commit).
  Status WriteDeliveries();
  // Processor Close(); then the DB closes with the task. Does NOT commit.
  void CloseProcessor();

  // With a changelog: the records of the keys written since the last call, values as of
  // now, then a marker; empty when nothing changed. To produce, in order, to the
  // changelog partition `partition()`.
  Result<state::ChangelogWriter::CommitRecords> TakeChangelog();
  // The marker of changelog commit `commit` was acknowledged at `offset`.
  void OnChangelogDelivered(uint64_t commit, int64_t offset) {
    if (changelog_) changelog_->OnDelivered(commit, offset);
  }
  bool has_changelog() const { return changelog_ != nullptr; }
  const ChangelogRestoreStats& restore_stats() const { return restore_stats_; }

  Status Checkpoint(const std::string& dir) { return db_->Checkpoint(dir); }
  state::StateDb* db() { return db_.get(); }
  state::StateStore* store(const std::string& name);
  int32_t partition() const override { return partition_; }
  const std::string& source_topic() const { return topology_.source_topic; }
  int64_t records_since_commit() const { return records_since_commit_; }

 private:
  StreamTask(const Topology& topology, int32_t partition, const StreamTaskOptions& options);
  Status Init();
  // Every write of the task: tracks the batch's logged keys when there is a changelog.
  Status WriteTracked(state::StateWriteBatch* batch);
  // With a changelog, after the store opened: restore, check or re-send (see Open).
  // `reopen` closes, deletes and reopens the store (a stale copy).
  Status PrepareChangelog(const std::function<Status()>& reopen);
  // Restores the (empty) store from the whole changelog partition.
  Status Restore(int64_t low, int64_t high, state::StateWriteBatch* batch);
  // Deletes every logged key through a tracked write (the changelog gets tombstones),
  // then reloads the outbox bookkeeping (fresh: no sequence).
  Status ClearLogged();

  // ProcessorContext.
  void Forward(OutputRecord record) override;
  void Schedule(int64_t interval_ms, PunctuationType type, Punctuator punctuator) override;
  state::StateStore* GetStateStore(const std::string& name) override { return store(name); }
  void Commit() override { commit_requested_ = true; }
  const Record* current_record() const override { return current_; }
  const Clock& clock() const override { return *clock_; }
  bool replaying() const override {
    return current_ != nullptr && current_->offset >= 0 && current_->offset < outbox_->replay_until();
  }

  Topology topology_;
  int32_t partition_;
  StreamTaskOptions options_;
  const Clock* clock_;
  std::unique_ptr<state::StateDb> db_;
  state::StateWriteBatch batch_;
  std::unique_ptr<state::MetaTable> meta_;
  std::unique_ptr<state::Outbox> outbox_;
  std::unique_ptr<state::ChangelogWriter> changelog_;
  ChangelogRestoreStats restore_stats_;
  std::map<std::string, std::unique_ptr<state::StateStore>> stores_;
  std::unique_ptr<Processor> processor_;
  // Forwarded since the last commit, each with the source offsets it carries.
  struct Forwarded {
    OutputRecord record;
    int64_t first_offset = -1;  // -1: the records aggregated since the last commit
    int64_t next_offset = -1;
  };
  std::vector<Forwarded> forwarded_;
  // The first source offset since the last commit that was not replayed on its own.
  std::optional<int64_t> aggregate_first_offset_;
  std::vector<uint64_t> delivered_;
  PunctuationSchedule schedule_;
  std::optional<int64_t> stored_offset_;
  std::optional<int64_t> next_offset_;  // after the last processed record
  std::optional<state::RecordIdentity> stored_last_record_;
  std::optional<state::RecordIdentity> last_record_;  // the last processed record
  int64_t records_since_commit_ = 0;
  const Record* current_ = nullptr;
  bool commit_requested_ = false;
  bool processor_closed_ = false;
};

}  // namespace streamrec::runtime
