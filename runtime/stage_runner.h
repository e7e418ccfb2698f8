#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/shutdown_steps.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "runtime/catch_up.h"
#include "runtime/processor.h"
#include "runtime/stream_task.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"
#include "streams/kafka_properties.h"
#include "state/state_db.h"

namespace streamrec::runtime {

struct StageRunnerOptions {
  // bootstrap.servers and librdkafka properties (passed through).
  std::string brokers;
  KafkaProperties properties;
  // Consumer group of the stage; every replica of a stage uses the same one.
  std::string group_id;
  // Root directory of the partition RocksDBs (<state_dir>/<stage>-<partition>). Replicas
  // that may take over each other's partitions must see the same directory (one host, or
  // a shared volume): state moves with the partition through it.
  std::string state_dir;
  // Commit (and flush) at least this often. Default 200 ms.
  int64_t commit_interval_ms = 200;
  // Also commit a task after this many records. Default 50000.
  int64_t commit_every_records = 50000;
  // Records taken per poll. Default 1000.
  size_t max_poll_records = 1000;
  // partition.assignment.strategy (see ConsumerOptions). Default cooperative-sticky.
  std::string assignment_strategy = "cooperative-sticky";
  // Wall clock; null = SystemClock().
  const Clock* clock = nullptr;
  // kPartitionStore: sync every commit's WAL write before producing its outputs
  // (StreamTaskOptions::sync_commits). Default true; false only to measure its cost.
  bool sync_commits = true;
  // Once `stop` is true, how long leaving the group and delivering the last outputs may
  // take, together. Past it, the consumer is destroyed without leaving (the coordinator
  // drops the member after its session timeout) and what was not acknowledged is purged:
  // a partition store keeps those outputs in its outbox and re-sends them on its next
  // start; a processor-managed stage's (the trainer's last announcement) are lost, which
  // is logged. Tasks are still committed and closed locally. Without this bound a stage
  // whose broker is gone waited session.timeout.ms (45 s) in the consumer's close plus up
  // to 30 s per partition in flushes. Default 5000 ms.
  int shutdown_timeout_ms = 5000;
  // On assignment every stored input position (a task's stored offset, a managed
  // processor's StartOffset) is checked against the partition's watermarks
  // (runtime/stored_offset_check.h): one beyond the end offset ends Run() with
  // FailedPrecondition naming it. This text, appended to that message, says how to start
  // over (the command's flag); may be empty.
  std::string start_over_hint;
  // kPartitionStore: every store writes its changes to `changelog_topic` (compacted, as
  // many partitions as the source) through the exactly-once outbox, and a task whose
  // store is missing, or whose copy another replica has overtaken, restores it from there
  // before it processes (docs/DESIGN.md §3, "Changelog"). Default false here; the
  // commands turn it on with `changelog.enabled` (default false; the chart sets it).
  bool changelog = false;
  // Default (empty): "streamrec.<stage>-changelog".
  std::string changelog_topic;
  // With the changelog: restore missing stores from it. Default true; false only in
  // tests, to show what the restore does.
  bool changelog_restore = true;
  // With the changelog: the stage was started with --reset-state. The first time this
  // runner opens each partition, whatever its store or changelog holds is discarded
  // (tombstones) and the partition starts over. Default false.
  bool changelog_reset = false;
};

// What the changelog did so far (all tasks of a runner). Thread-safe reads.
struct ChangelogCounters {
  int64_t records_produced = 0;  // store records and markers sent
  int64_t restores = 0;          // stores restored (missing, or a stale copy replaced)
  int64_t restored_records = 0;
  double restore_seconds = 0;
  int64_t corrupted_rebuilt = 0;  // corrupted stores moved aside and restored
};

// Runs a Topology as a Kafka consumer-group member (Kafka Streams' StreamThread): one
// processing thread (the one calling Run) owns the consumer, the producer, and the
// processors. Run() first waits (until `stop`) for the source topics to exist.
//
// StateKind::kPartitionStore (user, item): one StreamTask per assigned partition.
// - On assignment a task opens its partition's RocksDB, re-sends its committed outbox,
//   and the consumer starts at the offset stored in that DB (not the group's).
// - Every commit interval each task commits one WriteBatch (state + offset + outbox),
//   synced; the group offsets of the committed partitions are committed (the replay bound
//   of a lost store); then the outbox messages are produced (idempotent producer,
//   message.timeout.ms=0, so order holds per partition); a delivery report deletes the
//   outbox entry.
// - On revocation a task commits, the producer is flushed, and the DB is closed.
// Group offsets are committed too (for lag monitoring), but never read back.
//
// StateKind::kProcessorManaged (trainer, serving): one processor, created and initialised
// when Run() starts, for every partition of every source topic this member owns.
// - On assignment each partition starts at Processor::StartOffset (else the group's).
// - Forwarded records are produced at once; a failed delivery ends Run() with its cause.
// - Every commit interval, on Commit() requests, on revocation and at the end: the
//   processor's Flush, then the group offsets of Processor::CommittableOffset (else the
//   consumer's positions). Co-partitioned sources are assigned with the range strategy.
class StageRunner : private RebalanceListener {
 public:
  static Result<std::unique_ptr<StageRunner>> Create(Topology topology, StageRunnerOptions options);
  ~StageRunner() override;

  // Processes until `stop` returns true (checked every poll), then commits, closes every
  // task and leaves the group. Returns the first fatal error, if any.
  Status Run(const std::function<bool()>& stop);

  // Source-topic partitions currently owned (updated on the processing thread; readable
  // anywhere).
  int assigned_partitions() const { return assigned_.load(); }
  // Readiness (DESIGN §3): OK once the first assignment arrived and every source
  // partition assigned was read up to the end offset it had when assigned (a new
  // assignment adds its partitions; records appended since do not count). Else
  // Unavailable naming the partitions behind. Thread-safe.
  Status Readiness() const { return catch_up_->Readiness(); }
  // The same, shareable beyond the runner's life (serving's /readyz reads it from its
  // HTTP threads).
  std::shared_ptr<const CatchUpTracker> catch_up() const { return catch_up_; }
  int64_t records_processed() const { return processed_.load(); }
  // RocksDB write statistics summed over the tasks closed so far (all of them once Run()
  // returned). Thread-safe.
  state::StateDbStats closed_task_stats() const LOCKS_EXCLUDED(stats_mu_);
  ChangelogCounters changelog_counters() const LOCKS_EXCLUDED(stats_mu_);
  // The changelog topic in use ("" without a changelog).
  const std::string& changelog_topic() const { return options_.changelog_topic; }

 private:
  StageRunner(Topology topology, StageRunnerOptions options);
  void OnPartitionsAssigned(KafkaConsumer* consumer, std::vector<TopicPartitionOffset>* partitions) override;
  void OnPartitionsRevoked(KafkaConsumer* consumer, const std::vector<TopicPartitionOffset>& partitions) override;
  void OnPartitionsLost(KafkaConsumer* consumer, const std::vector<TopicPartitionOffset>& partitions) override;
  void OnDelivery(const DeliveryReport& report);

  class ManagedContext;
  // Commits `tasks`, moves their group offsets, then produces their outputs in order.
  Status CommitTasks(const std::vector<StreamTask*>& tasks, bool closing = false);
  // kProcessorManaged: Flush, then the group offsets of `partitions`.
  Status CommitManaged(const std::vector<TopicPartitionOffset>& partitions, bool closing);
  Status WaitForSources(const std::function<bool()>& stop);
  Status RunManaged(const std::function<bool()>& stop);
  void DropManaged(const std::vector<TopicPartitionOffset>& partitions, const char* why);
  Status ProduceOutputs(int32_t partition, const std::vector<PendingOutput>& outputs);
  // Sends what the task's changelog has unsent (records, then the marker). Returns the
  // number of records produced.
  Result<int64_t> ProduceChangelog(StreamTask* task);
  // Waits for every produced message, the changelog's included, to be acknowledged:
  // a commit's changelog precedes its group offset and its outputs.
  Status FlushChangelog(const char* why);
  Status CloseTask(int32_t partition, bool commit);
  // The broker's low and high watermarks of topic:partition (a few tries: right after a
  // join the partition may still be without a leader).
  Result<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic, int32_t partition);
  // The stored position `stored` of topic:partition against the broker's watermarks
  // (stored_offset_check.h); `state` names where it is stored.
  Status CheckStoredOffset(const std::string& topic, int32_t partition, int64_t stored,
                           const std::pair<int64_t, int64_t>& marks, const std::string& state);
  // Whether the record at `last.offset` is still the one the store applied last
  // (stored_offset_check.h, CheckLastRecord): one fetch through `probe_`.
  Status CheckLastRecord(const std::string& topic, int32_t partition, int64_t stored,
                         const state::RecordIdentity& last, const std::pair<int64_t, int64_t>& marks,
                         const std::string& state);
  // The identity of the first record of topic:partition at or after `offset`, nullopt
  // when none came within a few seconds.
  Result<std::optional<state::RecordIdentity>> ReadRecordIdentity(const std::string& topic, int32_t partition,
                                                                  int64_t offset);
  // Records the end offset of a newly assigned source partition read from `start`
  // (readiness); a failure to learn it leaves the partition counted as behind until read.
  void ExpectCatchUp(const std::string& topic, int32_t partition, int64_t start,
                     const Result<std::pair<int64_t, int64_t>>& marks);
  // After a poll: moves the catch-up line with the records and, when none came, the
  // consumer's positions.
  void TrackCatchUp(const std::vector<Record>& records);
  void Fail(const Status& st);
  // Group offsets: CommitSync, given up at the stop or, once stopping, at the bound.
  Status CommitGroupOffsets(const std::vector<TopicPartitionOffset>& offsets);
  // The shutdown: starts the bound of options_.shutdown_timeout_ms (idempotent).
  void BeginShutdown();
  // Milliseconds left of the shutdown bound (30 s when not shutting down: a revocation's
  // flush while running).
  int FlushTimeoutMs() const;
  bool ShutdownExpired() const;
  // Ends the shutdown: logs what was not delivered.
  void EndShutdown();

  Topology topology_;
  StageRunnerOptions options_;
  const Clock* clock_;
  std::unique_ptr<KafkaProducer> producer_;
  std::unique_ptr<KafkaConsumer> consumer_;
  // A group-less consumer that reads one record per assigned partition (CheckLastRecord);
  // created on first use from probe_options_.
  std::unique_ptr<KafkaConsumer> probe_;
  ConsumerOptions probe_options_;
  std::map<int32_t, std::unique_ptr<StreamTask>> tasks_;  // kPartitionStore
  std::unique_ptr<ManagedContext> managed_;                // kProcessorManaged
  std::vector<TopicPartitionOffset> managed_assigned_;      // kProcessorManaged
  bool managed_closed_ = false;                             // the final Flush ran
  Status error_;
  int64_t last_commit_ms_ = 0;
  // Set by BeginShutdown (processing thread); read by the producer's stop hook, which
  // librdkafka calls on the same thread (inside Flush).
  bool shutting_down_ = false;
  const std::function<bool()>* stop_ = nullptr;  // Run()'s, while it runs
  std::chrono::steady_clock::time_point shutdown_deadline_;
  // Names this runner's shutdown while it runs (a shutdown cut short says so).
  std::unique_ptr<ShutdownStep> shutdown_step_;
  int64_t undelivered_at_shutdown_ = 0;
  mutable Mutex stats_mu_;
  state::StateDbStats closed_stats_ GUARDED_BY(stats_mu_);
  ChangelogCounters changelog_counters_ GUARDED_BY(stats_mu_);
  class KafkaChangelogSource;
  std::unique_ptr<KafkaChangelogSource> changelog_source_;
  std::set<int32_t> reset_partitions_;  // changelog_reset: partitions already started over
  std::shared_ptr<CatchUpTracker> catch_up_;
  std::atomic<int> assigned_{0};
  std::atomic<int64_t> processed_{0};
};

}  // namespace streamrec::runtime
