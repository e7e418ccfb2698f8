#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "state/state_db.h"
#include "state/stores.h"

namespace streamrec::state {

// The exactly-once bookkeeping of DESIGN §3, kept in the task's own StateDb so it is
// written in the same WriteBatch as the state it belongs to:
// - consumed offsets ("where to resume"),
// - the outbox (what must still reach downstream topics; deleted after delivery),
// - dedup marks (the newest upstream (source partition, sequence) already applied).
// All classes here are used from the owning task's processing thread only.

// Header carrying an outbox message's origin (DESIGN §3, "Epochs"):
//   "<source partition>:<sequence>@<epoch>:<first offset>-<next offset>"
// The sequence is the outbox sequence of the producing task, strictly increasing within
// one epoch of that task's store; the epoch is drawn when a task opens a store that has
// no sequence yet (new, deleted or lost), so a restarted sequence is never mistaken for
// re-sends. [first, next) are the source offsets whose processing the message carries
// (one record's offset, or the records of one flush). Downstream stages dedup on it.
// The legacy form "<source partition>:<sequence>" parses as epoch 0 without offsets.
inline constexpr char kSourceMarkHeader[] = "streamrec.src";

struct SourceMark {
  int32_t partition = -1;
  uint64_t sequence = 0;
  uint64_t epoch = 0;
  int64_t first_offset = -1;  // -1: not known (legacy mark)
  int64_t next_offset = -1;
};
std::string FormatSourceMark(const SourceMark& mark);
bool ParseSourceMark(std::string_view text, SourceMark* mark);
// Legacy form, and the partition and sequence of either form.
std::string FormatSourceMark(int32_t source_partition, uint64_t sequence);
bool ParseSourceMark(std::string_view mark, int32_t* source_partition, uint64_t* sequence);

// What a receiver has applied from one source partition: the epoch and sequence of the
// newest message applied, and the source offsets below which everything was applied
// (`next_offset`: all of a message's deltas; `peer_next_offset`: its peer counts, which
// the user stage may send later than the rest). -1 = not known.
struct SourcePosition {
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  int64_t next_offset = -1;
  int64_t peer_next_offset = -1;

  std::string Encode() const;
  // Accepts the legacy 8-byte value (a bare sequence, epoch 0).
  static Result<SourcePosition> Decode(std::string_view bytes);
  friend bool operator==(const SourcePosition& a, const SourcePosition& b) {
    return a.epoch == b.epoch && a.sequence == b.sequence && a.next_offset == b.next_offset &&
           a.peer_next_offset == b.peer_next_offset;
  }
};

// The verdict on one marked message.
struct Admission {
  bool apply = false;       // apply the message's deltas (all but its peer counts)
  bool apply_peer = false;  // apply its peer counts
  bool duplicate = false;   // a re-send of something applied (nothing applied)
  bool restart = false;     // the first message of a new epoch of its source
  bool overlap = false;     // a new epoch's message straddles what was applied: cannot
                            // be exact (the sender's replay bound was wrong); applied
};

// The rule (DESIGN §3): within an epoch, a sequence at or below the position's is a
// re-send. A message of another epoch comes from a source whose store restarted and
// which reprocesses its input from an earlier offset: its parts are applied only for
// source offsets at or above what was applied (per part), and the position moves to the
// new epoch once its main part is applied. `has_peer`: the message carries peer counts.
// `known`: `position` holds a mark (false: first message from this source). Updates
// `position` to what is applied after this message.
Admission JudgeSourceMark(const SourceMark& mark, bool has_peer, bool known, SourcePosition* position);

// A message waiting in the outbox.
struct OutboxMessage {
  std::string topic;
  int32_t partition = -1;  // -1: chosen by the producer's partitioner from the key
  std::string key;
  bool has_key = true;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timestamp_ms = 0;

  friend bool operator==(const OutboxMessage& a, const OutboxMessage& b) {
    return a.topic == b.topic && a.partition == b.partition && a.key == b.key &&
           a.has_key == b.has_key && a.value == b.value && a.headers == b.headers &&
           a.timestamp_ms == b.timestamp_ms;
  }
};
std::string EncodeOutboxMessage(const OutboxMessage& m);
Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes);

// The identity of one source record, stored beside the offset after it (the last record a
// task applied): offsets name records of one instance of a topic, and a topic deleted and
// recreated with at least as many records has other records at the same offsets. One
// fetch of the record at `offset` tells them apart (docs/DESIGN.md §3, "Offsets belong to
// a topic instance"). `digest` hashes key and value (runtime::IdentifyRecord).
struct RecordIdentity {
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
  uint64_t digest = 0;
  friend bool operator==(const RecordIdentity& a, const RecordIdentity& b) {
    return a.offset == b.offset && a.timestamp_ms == b.timestamp_ms && a.digest == b.digest;
  }
};

// Offsets and other small metadata in the "meta" column family.
class MetaTable {
 public:
  MetaTable(StateDb* db, ColumnFamilyId cf) : db_(db), cf_(cf) {}
  // The next offset to consume from topic/partition, nullopt if never committed.
  Result<std::optional<int64_t>> LoadOffset(std::string_view topic, int32_t partition) const;
  void PutOffset(StateWriteBatch* batch, std::string_view topic, int32_t partition, int64_t next_offset) const;
  // The identity of the last record applied from topic/partition (written with its next
  // offset); nullopt for a store written before it was kept.
  Result<std::optional<RecordIdentity>> LoadLastRecord(std::string_view topic, int32_t partition) const;
  void PutLastRecord(StateWriteBatch* batch, std::string_view topic, int32_t partition,
                     const RecordIdentity& last) const;
  Result<std::optional<uint64_t>> LoadU64(std::string_view name) const;
  void PutU64(StateWriteBatch* batch, std::string_view name, uint64_t value) const;

 private:
  StateDb* db_;
  ColumnFamilyId cf_;
};

// Messages to send downstream, keyed by a sequence number that never repeats for this
// DB: the next number is stored in the meta table in the same batch as the message.
class Outbox {
 public:
  Outbox(StateDb* db, ColumnFamilyId outbox_cf, MetaTable* meta) : db_(db), cf_(outbox_cf), meta_(meta) {}

  // Reads the next sequence number and the epoch. Call once after opening.
  Status Load();
  // True when the store held no sequence (new, deleted or lost): the caller starts a new
  // epoch with StartEpoch before anything is added.
  bool fresh() const { return fresh_; }
  // Draws a new epoch (`epoch`, e.g. the wall clock in ms; must differ from any earlier
  // epoch of this source partition) and records it, with `replay_until` (the source
  // offset below which outputs may already have been applied downstream under an earlier
  // epoch; -1 = none), in `batch`.
  void StartEpoch(StateWriteBatch* batch, uint64_t epoch, int64_t replay_until);
  uint64_t epoch() const { return epoch_; }
  int64_t replay_until() const { return replay_until_; }
  // Adds a message to `batch` and returns its sequence number. The message is durable
  // once the batch is written.
  uint64_t Add(StateWriteBatch* batch, const OutboxMessage& message);
  // Records the next sequence number in `batch` (call before writing a batch to which
  // Add() added messages).
  void SaveSequence(StateWriteBatch* batch) const;
  // Every message still in the outbox (committed), in sequence order: after a restart,
  // these are sent again (downstream dedups).
  Result<std::vector<std::pair<uint64_t, OutboxMessage>>> Pending() const;
  // Deletes delivered messages (their order does not matter).
  void Delete(StateWriteBatch* batch, uint64_t sequence) const;

  uint64_t next_sequence() const { return next_; }

 private:
  StateDb* db_;
  ColumnFamilyId cf_;
  MetaTable* meta_;
  uint64_t next_ = 1;
  uint64_t epoch_ = 0;
  int64_t replay_until_ = -1;
  bool fresh_ = false;
};

// Drops messages already applied: remembers, per source partition, the SourcePosition
// applied (upstream sends each source partition's messages in sequence order, through an
// idempotent producer, so within an epoch anything at or below the mark is a re-send;
// across epochs the source offsets decide, see JudgeSourceMark). Marks live in a
// KeyValueStore, so they are committed in the same batch as the state they guard.
class DedupFilter {
 public:
  explicit DedupFilter(KeyValueStore* marks) : marks_(marks) {}
  // Judges a message; the mark is advanced (pending in the task's batch) when anything of
  // it is to be applied.
  Result<Admission> Admit(const SourceMark& mark, bool has_peer);
  // Legacy marks (epoch 0, no offsets): true when new.
  Result<bool> Admit(int32_t source_partition, uint64_t sequence);
  // The position of a source partition (nullopt = nothing applied).
  Result<std::optional<SourcePosition>> Position(int32_t source_partition) const;
  // The sequence of a source partition's mark (0 = nothing applied).
  Result<uint64_t> Mark(int32_t source_partition) const;

 private:
  KeyValueStore* marks_;
};

}  // namespace streamrec::state
