#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "state/stores.h"
#include "streams/record.h"

namespace streamrec::runtime {

// Kafka Streams' processor API, reduced to what the stages need. A Topology names one
// source topic, the stores its processor uses and how to make the processor; a
// StreamTask runs one instance per source partition, on one processing thread, with its
// own RocksDB. Everything a processor forwards goes through the task's outbox, so it is
// committed atomically with the state changes and the consumed offset (DESIGN §3).

enum class PunctuationType {
  kWallClock,   // by the task's Clock (flush intervals)
  kStreamTime,  // by the largest record timestamp seen (event-time logic)
};

// Called with the time (of the punctuation's clock) that made it due.
using Punctuator = std::function<void(int64_t timestamp_ms)>;

// A record for a sink topic.
struct OutputRecord {
  std::string topic;
  int32_t partition = -1;  // -1: by key (the producer's partitioner)
  std::string key;
  bool has_key = true;
  std::string value;
  KafkaHeaders headers;
  int64_t timestamp_ms = 0;  // 0: produce time
};

// What a processor may do. Used only from the task's processing thread.
class ProcessorContext {
 public:
  virtual ~ProcessorContext() = default;

  // Sends a record downstream. It is written to the outbox in the task's next commit and
  // produced after that commit (exactly-once: never sent without the state that made it).
  virtual void Forward(OutputRecord record) = 0;
  // Runs `punctuator` every `interval_ms` of wall-clock or stream time.
  virtual void Schedule(int64_t interval_ms, PunctuationType type, Punctuator punctuator) = 0;
  // A store of the topology by name; null if none has that name.
  virtual state::StateStore* GetStateStore(const std::string& name) = 0;
  // Asks for a commit after the current record or punctuation (a request, not an action).
  virtual void Commit() = 0;

  // The source partition this task processes.
  virtual int32_t partition() const = 0;
  // The record being processed (null inside punctuations).
  virtual const Record* current_record() const = 0;
  virtual const Clock& clock() const = 0;

  template <typename StoreT>
  StoreT* GetStore(const std::string& name) {
    return dynamic_cast<StoreT*>(GetStateStore(name));
  }
};

// Stream logic for one partition. All methods run on the task's processing thread.
// A non-OK Status from any method stops the task (the process restarts it; state and
// offsets are those of the last commit). Bad INPUT is not an error: route it to a DLQ.
class Processor {
 public:
  virtual ~Processor() = default;
  virtual Status Init(ProcessorContext* context) = 0;
  virtual Status Process(const Record& record) = 0;
  // Called before every commit: forward or write whatever is buffered in memory, so it
  // is committed together with the offsets it came from. `closing` is true for the last
  // commit before the task closes (revocation, shutdown).
  virtual Status Flush(bool closing) {
    (void)closing;
    return Status::Ok();
  }
  virtual void Close() {}
};

// A named store of a topology.
struct StoreSpec {
  enum class Kind { kKeyValue, kCounter };
  std::string name;  // also the RocksDB column family
  Kind kind = Kind::kKeyValue;
};

// Source -> processor (+ stores) -> sinks (named by the forwarded records).
struct Topology {
  std::string name;          // stage name: "user", "item"; used for directories and metrics
  std::string source_topic;
  std::vector<StoreSpec> stores;
  std::function<std::unique_ptr<Processor>()> processor_supplier;
};

}  // namespace streamrec::runtime
