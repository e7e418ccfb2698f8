#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "state/stores.h"
#include "streams/record.h"

namespace streamrec::runtime {

// Kafka Streams' processor API, reduced to what the stages need. A Topology names its
// source topics, where its state lives, and how to make the processor:
// - StateKind::kPartitionStore (user, item): a StreamTask runs one processor per source
//   partition with its own RocksDB; everything it forwards goes through the task's
//   outbox, committed atomically with the state changes and the consumed offset
//   (exactly once, DESIGN §3).
// - StateKind::kProcessorManaged (trainer, serving): ONE processor for every assigned
//   partition keeps its own state (a model snapshot, in-memory windows rebuilt from the
//   log) and says where each partition starts; what it forwards is produced at once.

enum class PunctuationType {
  kWallClock,   // by the task's Clock (flush intervals)
  kStreamTime,  // by the largest record timestamp seen (event-time logic)
};

// Called with the time (of the punctuation's clock) that made it due. A non-OK Status
// stops the task, like one from Processor::Process.
using Punctuator = std::function<Status(int64_t timestamp_ms)>;

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

  // Sends a record downstream. kPartitionStore: written to the outbox in the task's next
  // commit and produced after that commit (never sent without the state that made it).
  // kProcessorManaged: produced at once; a failed delivery stops the stage.
  virtual void Forward(OutputRecord record) = 0;
  // Runs `punctuator` every `interval_ms` (>= 1) of wall-clock or stream time; wall-clock
  // punctuations are checked after every poll.
  virtual void Schedule(int64_t interval_ms, PunctuationType type, Punctuator punctuator) = 0;
  // A store of the topology by name; null if none has that name.
  virtual state::StateStore* GetStateStore(const std::string& name) = 0;
  // Asks for a commit after the current record or punctuation (a request, not an action).
  virtual void Commit() = 0;

  // The source partition this task processes (kProcessorManaged: the current record's,
  // -1 outside Process).
  virtual int32_t partition() const = 0;
  // The record being processed (null inside punctuations).
  virtual const Record* current_record() const = 0;
  virtual const Clock& clock() const = 0;
  // True while the current record may already have been applied downstream under an
  // earlier epoch of this task's store (the store was new, deleted or lost, and the task
  // reprocesses its input below the bound it recorded, DESIGN §3 "Epochs"). A processor
  // that aggregates several records into one output must then forward what the current
  // record produced on its own, during Process(): downstream can only keep or drop a
  // message whole, by the source offsets in its mark.
  virtual bool replaying() const { return false; }

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

  // --- kProcessorManaged only (the runner never calls these for kPartitionStore) ---
  // Where an assigned partition starts: an offset, kOffsetBeginning (state rebuilt from
  // the whole log), or nullopt for the group's committed offset (else auto.offset.reset).
  virtual std::optional<int64_t> StartOffset(const std::string& topic, int32_t partition) {
    (void)topic;
    (void)partition;
    return std::nullopt;
  }
  // The offset committed to the group for a partition (at every commit and on
  // revocation): nullopt commits the consumer's position (everything read so far).
  // A processor whose state lags what it read (a trainer's unsaved steps) commits less.
  virtual std::optional<int64_t> CommittableOffset(const std::string& topic, int32_t partition) {
    (void)topic;
    (void)partition;
    return std::nullopt;
  }
  // The partitions (every source topic) this member owns now, after each assignment,
  // revocation or loss (serving announces its clicks partitions). Default: nothing.
  virtual void OnAssignmentChanged(const std::vector<TopicPartitionOffset>& assigned) { (void)assigned; }
};

// A named store of a topology.
struct StoreSpec {
  enum class Kind { kKeyValue, kCounter };
  std::string name;  // also the RocksDB column family
  Kind kind = Kind::kKeyValue;
};

// Where a topology's state lives, and so what a commit means.
enum class StateKind {
  // One RocksDB per source partition (StreamTask): state, next offset and outbox in one
  // WriteBatch per commit; the task resumes from the offset stored beside its state.
  kPartitionStore,
  // The processor's own (one processor for all partitions): a commit flushes it and
  // commits the group offsets it says (Processor::CommittableOffset); forwarded records
  // are produced at once. Exactly-once where the processor stores its input position with
  // its state and drops re-sends by mark (the trainer); at least once otherwise.
  kProcessorManaged,
};

// Source(s) -> processor (+ stores) -> sinks (named by the forwarded records).
struct Topology {
  std::string name;          // stage name: "user", "item"; used for directories and metrics
  std::string source_topic;  // the partitioned input
  // More input topics, co-partitioned with source_topic (same partition count, same
  // keys): partition p of each goes to the member that owns source_topic's p (range
  // assignment). kProcessorManaged only (serving: rec-requests beside clicks).
  std::vector<std::string> co_source_topics;
  StateKind state_kind = StateKind::kPartitionStore;
  std::vector<StoreSpec> stores;  // kPartitionStore only
  std::function<std::unique_ptr<Processor>()> processor_supplier;

  // source_topic then co_source_topics.
  std::vector<std::string> source_topics() const {
    std::vector<std::string> all{source_topic};
    all.insert(all.end(), co_source_topics.begin(), co_source_topics.end());
    return all;
  }
};

}  // namespace streamrec::runtime
