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

// Header carrying an outbox message's origin, "<source partition>:<sequence>", where the
// sequence is the outbox sequence number of the producing task (strictly increasing per
// source partition across restarts and rebalances). Downstream stages dedup on it.
inline constexpr char kSourceMarkHeader[] = "streamrec.src";

std::string FormatSourceMark(int32_t source_partition, uint64_t sequence);
bool ParseSourceMark(std::string_view mark, int32_t* source_partition, uint64_t* sequence);

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

// Offsets and other small metadata in the "meta" column family.
class MetaTable {
 public:
  MetaTable(StateDb* db, ColumnFamilyId cf) : db_(db), cf_(cf) {}
  // The next offset to consume from topic/partition, nullopt if never committed.
  Result<std::optional<int64_t>> LoadOffset(std::string_view topic, int32_t partition) const;
  void PutOffset(StateWriteBatch* batch, std::string_view topic, int32_t partition, int64_t next_offset) const;
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

  // Reads the next sequence number. Call once after opening.
  Status Load();
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
};

// Drops messages already applied: remembers, per source partition, the newest sequence
// applied (upstream sends each source partition's messages in sequence order, through an
// idempotent producer, so anything at or below the mark is a re-send). Marks live in a
// KeyValueStore, so they are committed in the same batch as the state they guard.
class DedupFilter {
 public:
  explicit DedupFilter(KeyValueStore* marks) : marks_(marks) {}
  // True when (source_partition, sequence) is new: the mark is then advanced (pending in
  // the task's batch). False for a duplicate.
  Result<bool> Admit(int32_t source_partition, uint64_t sequence);
  // The mark of a source partition (0 = nothing applied).
  Result<uint64_t> Mark(int32_t source_partition) const;

 private:
  KeyValueStore* marks_;
};

}  // namespace streamrec::state
