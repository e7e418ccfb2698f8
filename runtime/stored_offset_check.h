#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "state/exactly_once.h"
#include "streams/record.h"

namespace streamrec::runtime {

// A stage's stored input position (the next offset of one input partition, kept with its
// state: a StreamTask's RocksDB, the trainer's snapshot) and that partition as the
// broker has it now. Offsets belong to one instance of a topic: a topic deleted and
// recreated, or a broker reset, starts again at offset 0 while the stored position still
// points into the old log.
struct StoredOffsetCheck {
  std::string stage;      // "user", "item", "trainer"
  std::string topic;
  int32_t partition = 0;
  int64_t stored = 0;     // the next offset the stage would read
  int64_t low = 0;        // the broker's log start offset (low watermark)
  int64_t high = 0;       // the broker's end offset (high watermark)
  std::string state;      // where the position is stored (a directory), for the message
  std::string start_over; // how to start over (the command's flag), for the message
};

struct StoredOffsetVerdict {
  // FailedPrecondition when the stored position lies beyond the partition's end (the
  // message names topic, partition, stored offset, end offset and how to start over): records
  // the stage never read would be skipped (the consumer would wait at an offset the new
  // log reaches only later, or be reset past them), so the stage must not start.
  Status error;
  // Non-empty when the stored position lies below the log start offset: records between
  // them were deleted (retention) before the stage read them; reading resumes at the log
  // start. Logged, not fatal (the same as any consumer that fell behind retention).
  std::string warning;
};

// Detects what watermarks can: a stored offset beyond the end offset (a recreated topic or
// a reset broker holding fewer records than the stage had read) and one below the log
// start. A recreated topic that already holds at least as many records as the stored
// offset looks like the old one here (the broker's topic id would tell them apart;
// librdkafka 2.0.2 does not expose it): CheckLastRecord below tells them apart.
StoredOffsetVerdict CheckStoredOffset(const StoredOffsetCheck& check);

// A record's identity (state::RecordIdentity): offset, timestamp and a 64-bit digest of
// key and value (XXH3 of each, combined). Stored with the offset after the last record
// a stage applied.
state::RecordIdentity IdentifyRecord(const Record& record);

// What the watermarks cannot tell: is the record now at `last.offset` (the last one the
// stored state applied, `check.stored` - 1) the one that was applied? `found` is the
// first record the broker returned at or after `last.offset` (nullopt: none could be
// read). Call only when `check` passed CheckStoredOffset and last.offset lies in
// [check.low, check.high).
// - the same offset with another timestamp or digest: FailedPrecondition naming topic,
//   partition, stored offset, what differs and how to start over (the topic was deleted
//   and recreated, or the broker reset, and the new log already holds as many records);
// - another offset (compaction removed the record) or nothing read: a warning, not
//   checked.
StoredOffsetVerdict CheckLastRecord(const StoredOffsetCheck& check, const state::RecordIdentity& last,
                                    const std::optional<state::RecordIdentity>& found);

}  // namespace streamrec::runtime
