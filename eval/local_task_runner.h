#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "runtime/processor.h"
#include "runtime/stream_task.h"
#include "state/exactly_once.h"
#include "streams/record.h"

namespace streamrec::eval {

// Runs one partition of a stage topology (its real Processor, real RocksDB stores, the
// real StreamTask commit with outbox and offsets) synchronously in the calling thread,
// without a broker: Process() hands one record to the task and commits at once, and
// returns what the commit released downstream, as a broker would deliver it. This is the
// product-side runner of the in-process evaluation (prequential harness, offline eval);
// tests use tests/support's driver. The task's wall clock is a ManualClock that stands
// still, so every result depends on the input alone. One thread.
class LocalTaskRunner {
 public:
  // Opens <state_dir>/<topology.name>-<partition>.
  static Result<std::unique_ptr<LocalTaskRunner>> Open(runtime::Topology topology,
                                                      const std::string& state_dir,
                                                      int32_t partition = 0);
  ~LocalTaskRunner();

  // Processes `record` (topic, partition and offset are filled in) and commits; returns
  // the committed outputs, in order, each with its `streamrec.src` mark.
  Result<std::vector<Record>> Process(Record record);
  // Processes `record` without committing (outputs wait for the next Commit()), as the
  // live task does between flushes.
  Status ProcessOnly(Record record);
  // Commits (flushing the processor) and returns the released outputs.
  Result<std::vector<Record>> Commit();
  // Commits what is pending (closing) and closes the task.
  Status Close();

  int64_t records_processed() const { return next_offset_; }

 private:
  LocalTaskRunner(runtime::Topology topology, int32_t partition);

  runtime::Topology topology_;
  int32_t partition_;
  ManualClock clock_;
  std::unique_ptr<runtime::StreamTask> task_;
  int64_t next_offset_ = 0;
};

}  // namespace streamrec::eval
