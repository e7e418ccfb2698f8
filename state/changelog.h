#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "state/exactly_once.h"
#include "state/state_db.h"

namespace streamrec::state {

// The changelog of a partition store (docs/DESIGN.md §3, "Changelog"): every commit's
// changed keys, each with its value after the commit (merge operands resolved) or a
// tombstone (a null Kafka value) when deleted, then one commit marker. A restorer applies
// the records of a commit only once it has read that commit's marker, so the torn tail of
// a writer that died mid-commit is never applied. The log is compacted: a key's newest
// record and the newest marker survive, which is all a restore needs.
//
// Kafka record key: a kind byte, then for a store record the column family's name
// (u8 length + bytes) and the store key. Every column family of the task's StateDb is
// logged, the bookkeeping included (offsets, outbox sequence and epoch, outbox, dedup
// marks), so a restored store equals the lost one as of its last complete commit;
// except the keys that describe the changelog itself (below), which are the local copy's.

// The column family holding the keys whose changelog records are not acknowledged yet
// (written in the commit's own WriteBatch): after a crash between a commit and its
// changelog delivery the task re-sends their current values when it reopens. One entry
// per commit lists that commit's changed keys (a pending set: key 0x03 + big-endian
// commit, value the encoded record keys, each u32-length-prefixed), deleted once the
// commit's marker is acknowledged: two writes per commit instead of a put and a delete
// per changed key. A key marked unsent outside a commit (a restore's torn tail, a store
// from before the changelog), and every key of stores written before pending sets, has
// an entry of its own: the encoded record key, empty value.
inline constexpr char kChangelogPendingFamily[] = "changelog-pending";
// The pending family's key of commit `commit`'s pending set.
std::string ChangelogPendingSetKey(uint64_t commit);
// Meta keys starting with this prefix are local (never logged): the writer id, the
// changelog offset acknowledged.
inline constexpr char kChangelogMetaPrefix[] = "changelog.";

// Whether a key of column family `cf_name` goes to the changelog.
bool IsLoggedKey(std::string_view cf_name, std::string_view key);

std::string EncodeChangelogRecordKey(std::string_view cf_name, std::string_view key);
// The one key of every commit marker (compaction keeps the newest).
std::string ChangelogMarkerKey();

struct ChangelogMarker {
  // Who wrote the commit: drawn when a copy of the store is created or restored, kept
  // in its (local) meta. A copy that finds another writer's commits after its own is stale.
  uint64_t writer = 0;
  // The writer's commit counter (strictly increasing per writer).
  uint64_t commit = 0;
  // The task's next source offset as of the commit (-1: none yet), for logs and checks.
  int64_t source_next_offset = -1;

  std::string Encode() const;
  static Result<ChangelogMarker> Decode(std::string_view bytes);
  friend bool operator==(const ChangelogMarker& a, const ChangelogMarker& b) {
    return a.writer == b.writer && a.commit == b.commit && a.source_next_offset == b.source_next_offset;
  }
};

// A changelog value as it travels in Kafka: a present value gets a leading 0x01 (so it
// is never empty), a deleted one is a null value (a tombstone, which compaction drops).
std::string EncodeChangelogValue(std::string_view value);
// nullopt for an empty (null) Kafka value.
Result<std::optional<std::string>> DecodeChangelogValue(std::string_view kafka_value);

// One record read back from a changelog partition (value decoded).
struct ChangelogEntry {
  int64_t offset = -1;
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
};

// A decoded record key.
struct ChangelogKey {
  bool marker = false;
  std::string cf_name;  // store records only
  std::string key;
};
Result<ChangelogKey> DecodeChangelogKey(std::string_view bytes);

// What a restore read.
struct RestoreSummary {
  int64_t records = 0;          // store records applied (in complete commits)
  int64_t commits = 0;          // markers read
  int64_t discarded = 0;        // records of the torn tail (after the last marker)
  std::optional<ChangelogMarker> last_marker;
  int64_t next_offset = -1;     // the offset after the last marker (-1: none read)
  // The encoded record keys of the torn tail: their values in the log are not the
  // restored store's, so the next writer re-sends them (from its store, or tombstones).
  std::vector<std::string> torn_keys;
};

// Applies a changelog partition, read in offset order, to a StateDb: records are kept
// until their commit's marker arrives, then written (in WriteBatches of a few MB, at
// marker boundaries only, so the store always holds whole commits); what follows the
// last marker is discarded. A record naming a column family the store does not have
// is Corruption (a changelog of another stage or version). Not thread-safe.
class ChangelogRestorer {
 public:
  explicit ChangelogRestorer(StateDb* db, size_t batch_bytes = 4 << 20) : db_(db), batch_bytes_(batch_bytes) {}

  Status Add(const ChangelogEntry& entry);
  // Writes what remains of the complete commits and returns the summary.
  Result<RestoreSummary> Finish();

 private:
  struct Buffered {
    ColumnFamilyId cf;
    std::string key;
    std::string encoded_key;
    std::optional<std::string> value;
  };
  StateDb* db_;
  size_t batch_bytes_;
  StateWriteBatch batch_;
  std::vector<Buffered> buffered_;
  RestoreSummary summary_;
};

// A scan of a changelog range (without applying it): the markers and the torn tail.
// Used by a task whose local copy exists, to see whether another writer committed after
// the copy's last acknowledged offset.
struct ChangelogScan {
  std::vector<ChangelogMarker> markers;
  std::vector<std::string> torn_keys;  // records after the last marker
  Status Add(const ChangelogEntry& entry);
};

// The writing side, in the task: which logged keys changed since they were last sent,
// which sent ones are not acknowledged yet (kept in kChangelogPendingFamily, in the same
// WriteBatch as the change), the writer id and the changelog offset acknowledged (local
// meta). Task thread only.
class ChangelogWriter {
 public:
  ChangelogWriter(StateDb* db, ColumnFamilyId pending_cf, const MetaTable* meta)
      : db_(db), pending_cf_(pending_cf), meta_(meta) {}

  // Reads the writer id, the acknowledged offset, the commit counter and the pending
  // keys (which become unsent: a reopened task re-sends them first).
  Status Load();
  // 0: this copy has no writer yet (new, restored, or from before the changelog).
  uint64_t writer() const { return writer_; }
  // The changelog offset after the last acknowledged marker of this copy (-1: none).
  int64_t acked_offset() const { return acked_offset_; }
  // The newest commit this copy may have sent (markers of this writer above it come
  // from another copy of the same store that went on: this one is stale).
  uint64_t commit() const { return commit_; }
  // Records a new writer id and the offset the copy reflects (after a restore: the
  // offset after the last marker applied), in `batch`.
  void SetWriter(StateWriteBatch* batch, uint64_t writer, int64_t acked_offset);
  // Marks an encoded record key unsent (its current value, or a tombstone, goes out with
  // the next Take), recording it pending in `batch`.
  void MarkUnsent(StateWriteBatch* batch, const std::string& encoded_key);
  // Every logged key of the store, unsent (a store from before the changelog).
  Status MarkAllUnsent(StateWriteBatch* batch);
  // Before `batch` is written: its logged keys become unsent and pending (listed in the
  // next commit's pending set, written into the batch), acknowledged commits' sets and
  // entries leave the pending family, the commit counter and the acknowledged offset are
  // saved.
  Status Track(StateWriteBatch* batch);

  // One commit's changelog records.
  struct CommitRecords {
    uint64_t commit = 0;
    // Store records with their values as of now, then the commit marker.
    std::vector<ChangelogEntry> records;
  };
  // The unsent keys' current values (read now: after the write, before the next one, so
  // they are exactly the committed ones) and the marker. Empty when nothing is unsent.
  Result<CommitRecords> Take(int64_t source_next_offset);
  // The marker of `commit` was acknowledged at `offset` (so were its records, which
  // precede it in the partition).
  void OnDelivered(uint64_t commit, int64_t offset);
  size_t unacked_commits() const { return entries_of_commit_.size(); }
  size_t unsent() const { return unsent_.size(); }

 private:
  StateDb* db_;
  ColumnFamilyId pending_cf_;
  const MetaTable* meta_;
  uint64_t writer_ = 0;
  int64_t acked_offset_ = -1;
  bool acked_dirty_ = false;
  uint64_t commit_ = 0;
  // What Take sends for an unsent key: the value the batch put, a tombstone, or a read
  // of the store (a merge, or a key marked unsent from outside a batch).
  struct Unsent {
    enum class Kind { kRead, kValue, kTombstone } kind = Kind::kRead;
    std::string value;
    bool pending = true;  // recorded in the pending family (until its commit is acknowledged)
  };
  std::map<std::string, Unsent> unsent_;
  // Whether a change is kept in the pending family: every change but the addition of an
  // outbox entry. The outbox is re-sent whole when a copy reopens instead (it holds only
  // what is not delivered yet), which saves a pending write and delete per output
  // message; an entry's deletion (its delivery) is pending like any other change, so
  // its tombstone is never lost.
  static bool Pending(std::string_view cf_name, StateWriteBatch::Op op) {
    return cf_name != kOutboxFamily || op == StateWriteBatch::Op::kDelete;
  }
  static constexpr char kOutboxFamily[] = "outbox";
  // The changed keys of the next commit (Take's), listed in its pending set: each Track
  // until that Take rewrites the set with all of them.
  std::vector<std::string> set_keys_;
  // Pending-family entries whose keys the next commit sends (loaded at Load, or one key's
  // own entry from MarkUnsent): they leave the family once that commit is acknowledged.
  std::vector<std::string> carried_;
  // Per commit sent and not acknowledged: the pending-family entries its marker clears.
  std::map<uint64_t, std::vector<std::string>> entries_of_commit_;
  std::vector<std::string> acked_;  // entries to leave the pending family in the next batch
  std::map<ColumnFamilyId, std::string> cf_names_;
};

}  // namespace streamrec::state
