#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "runtime/processor.h"
#include "runtime/stream_task.h"
#include "state/exactly_once.h"

namespace streamrec::runtime {

// Drives a Topology without a broker (Kafka Streams' TopologyTestDriver): pipe records
// in, read what was forwarded (after commits, as the broker would see it) and the stores
// out, move a ManualClock. Uses a real RocksDB under `state_dir`. One test thread.
// A delivered output as the record a downstream task reads at `offset` (chaining drivers:
// the user stage's cooc-deltas into the item stage).
Record OutputAsRecord(const state::OutboxMessage& m, int64_t offset);

class TopologyTestDriver {
 public:
  // start_millis: the wall clock's start; -1 = the system clock's now, so that event
  // times of recent years are not "in the future" (operators.max_future_ms).
  TopologyTestDriver(Topology topology, std::string state_dir, int32_t partition = 0,
                     int64_t start_millis = -1);
  ~TopologyTestDriver();

  // Opens (or reopens) the task. Messages committed but not delivered before are sent
  // again, as the Kafka runtime does.
  Status Open();
  // Feeds a record; offset -1 takes the next offset, timestamp -1 the wall clock.
  Result<bool> PipeInput(Record record);
  Result<bool> PipeInput(std::string key, std::string value, int64_t timestamp_ms = -1);
  // Advances the wall clock and runs due punctuations (and a commit if one was asked for).
  Status AdvanceWallClock(int64_t millis);
  // Commits. deliver=true: every committed output is "delivered" (readable with
  // ReadOutput); false: lost in flight. ack=true: the delivery is confirmed (the outbox
  // entry is deleted); false: it is not, so after a Crash() the next Open() sends it
  // again (a duplicate downstream when it had been delivered).
  Status Commit(bool deliver = true, bool ack = true, bool closing = false);
  // Simulates kill -9: the task disappears without committing (what was committed stays;
  // committed outputs not yet marked delivered are re-sent by the next Open()).
  void Crash();
  // Commits and closes (like a revoke).
  Status Close();

  // Outputs delivered so far to `topic`, oldest first; drained by this call.
  std::vector<state::OutboxMessage> ReadOutput(const std::string& topic);

  // Simulates losing the task's store (disk gone, directory deleted): the task must be
  // closed or crashed first. The group offset (kept by the broker) survives.
  Status DeleteStore();
  // Commits are not synced by default here: the driver simulates process crashes, which
  // lose nothing written (tests of machine crashes turn it on).
  void set_sync_commits(bool sync) { sync_commits_ = sync; }
  // The group offset StageRunner would have committed (the replay bound of a lost store).
  std::optional<int64_t> group_offset() const { return group_offset_; }

  StreamTask* task() { return task_.get(); }
  ManualClock* clock() { return &clock_; }
  int64_t next_input_offset() const { return next_offset_; }

 private:
  Status Deliver(std::vector<PendingOutput> outputs, bool ack);

  Topology topology_;
  std::string state_dir_;
  int32_t partition_;
  ManualClock clock_;
  std::unique_ptr<StreamTask> task_;
  int64_t next_offset_ = 0;
  std::optional<int64_t> group_offset_;
  bool sync_commits_ = false;
  std::map<std::string, std::vector<state::OutboxMessage>> outputs_;
};

}  // namespace streamrec::runtime
