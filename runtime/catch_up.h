#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "streams/record.h"

namespace streamrec::runtime {

// Readiness of a consumer (DESIGN §3, "Readiness"): has it read each of its input
// partitions up to the end offset that partition had when the consumer began reading it
// (at start for a table reader, at assignment for a group member)? The owner records
// each partition's end offset once (Expect), then reports what it read (OnRecords,
// OnPosition); the partition stops counting once the position reaches that end. Records
// appended later do not move the line: a consumer that keeps up with a busy topic is
// ready. Before Start() nothing counts as caught up (a group member waits for its first
// assignment, even an empty one).
// Thread-safe: the owning consumer's thread writes, any thread (an HTTP /readyz worker)
// reads.
class CatchUpTracker {
 public:
  // `name` labels readiness reasons ("item", "serving-tables").
  explicit CatchUpTracker(std::string name) : name_(std::move(name)) {}

  // The partition is to be read from `position` (the next offset to read; negative when
  // not known yet, e.g. kOffsetBeginning) up to `end`, its end offset (exclusive, the
  // high watermark) as of now. Nothing to read (position >= end, or an empty partition:
  // end <= low) leaves it caught up.
  void Expect(const std::string& topic, int32_t partition, int64_t position, int64_t low, int64_t end)
      LOCKS_EXCLUDED(mu_);
  // The partition no longer counts (revoked, lost).
  void Forget(const std::string& topic, int32_t partition) LOCKS_EXCLUDED(mu_);
  // Marks that the partitions to read were recorded (the first assignment came).
  void Start() { started_.store(true); }
  // Records read: each moves its partition's position past its offset.
  void OnRecords(const std::vector<Record>& records, size_t from = 0) LOCKS_EXCLUDED(mu_);
  // A consumer position (the next offset to read; negative = unknown, ignored): the last
  // offsets of a partition may hold no record (compaction, transaction markers).
  void OnPosition(const std::string& topic, int32_t partition, int64_t position) LOCKS_EXCLUDED(mu_);

  bool started() const { return started_.load(); }
  // Started and no partition behind.
  bool caught_up() const { return started_.load() && behind_count_.load() == 0; }
  // The partitions still behind, each with its end offset in `offset`.
  std::vector<TopicPartitionOffset> Behind() const LOCKS_EXCLUDED(mu_);
  // OK when caught up; else Unavailable naming why: "<name>: not started (...)" or
  // "<name>: 3 partition(s) not yet read to their end offsets as of start or assignment:
  // clicks:0 at 120 of 5000, ...".
  Status Readiness() const LOCKS_EXCLUDED(mu_);

 private:
  struct Progress {
    int64_t position = -1;  // next offset to read; -1: unknown
    int64_t end = 0;
  };
  void UpdateCount() EXCLUSIVE_LOCKS_REQUIRED(mu_) { behind_count_.store(behind_.size()); }

  const std::string name_;
  std::atomic<bool> started_{false};
  std::atomic<size_t> behind_count_{0};
  mutable Mutex mu_;
  std::map<std::pair<std::string, int32_t>, Progress> behind_ GUARDED_BY(mu_);
};

}  // namespace streamrec::runtime
