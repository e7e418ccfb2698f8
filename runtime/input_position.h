#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"
#include "state/exactly_once.h"
#include "streams/record.h"

namespace streamrec::runtime {

// Where a stage stands in one input topic, for stages whose state is not a StreamTask's
// RocksDB (the trainer keeps its state in model snapshots): the next offset per input
// partition and the `streamrec.src` marks applied per (input partition, source
// partition). Persist Encode() atomically with the state it describes; after a restart,
// resume reading at next_offset() and keep dropping what Admit() calls a duplicate.
//
// Marks are kept per input partition because a producing task's messages (one sequence
// per source partition) are spread over the input's partitions by key: only within one
// input partition do they arrive in sequence order. A source whose store was lost starts
// a new epoch and replays its input; its messages are then judged by the source offsets
// they carry (state::JudgeSourceMark), so nothing applied before is applied twice and
// nothing new is dropped. One thread uses it.
class InputPosition {
 public:
  enum class Verdict {
    kNew,        // apply it
    kDuplicate,  // a re-send of a message already applied: drop it
    kUnmarked,   // no (valid) mark: cannot be deduplicated; apply it
  };

  // Notes that `record` was read (the next offset of its partition moves past it) and
  // judges it by its mark. A kNew record's mark becomes the partition's mark.
  Verdict Admit(const Record& record);

  // The next offset to read from `partition`, nullopt if nothing was read from it.
  std::optional<int64_t> next_offset(int32_t partition) const;
  const std::map<int32_t, int64_t>& next_offsets() const { return next_offsets_; }
  // The sequence applied last for (input partition, source partition); 0 if none.
  uint64_t mark(int32_t partition, int32_t source_partition) const;
  // New epochs of a source accepted since this position was created (not persisted).
  int64_t restarts() const { return restarts_; }
  int64_t duplicates() const { return duplicates_; }
  int64_t unmarked() const { return unmarked_; }
  int64_t admitted() const { return admitted_; }

  std::string Encode() const;
  static Result<InputPosition> Decode(std::string_view bytes);

  friend bool operator==(const InputPosition& a, const InputPosition& b) {
    return a.next_offsets_ == b.next_offsets_ && a.marks_ == b.marks_ &&
           a.duplicates_ == b.duplicates_ && a.unmarked_ == b.unmarked_ && a.admitted_ == b.admitted_;
  }

 private:
  std::map<int32_t, int64_t> next_offsets_;
  std::map<std::pair<int32_t, int32_t>, state::SourcePosition> marks_;
  int64_t duplicates_ = 0;  // dropped so far (kDuplicate)
  int64_t unmarked_ = 0;    // kUnmarked so far
  int64_t admitted_ = 0;    // kNew + kUnmarked so far
  int64_t restarts_ = 0;
};

}  // namespace streamrec::runtime
