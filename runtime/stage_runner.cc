#include "runtime/stage_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include <prometheus/counter.h>

#include "core/metrics.h"
#include "runtime/changelog_source.h"
#include "runtime/punctuation_schedule.h"
#include "runtime/stored_offset_check.h"

namespace streamrec::runtime {
namespace {

constexpr int kMetadataTimeoutMs = 5000;

constexpr int kPartitionShift = 40;

// The end offset of a partition whose watermarks could not be read at assignment.
constexpr int64_t kUnknownEnd = std::numeric_limits<int64_t>::max();

uint64_t MakeTag(int32_t partition, uint64_t sequence) {
  return (static_cast<uint64_t>(partition) << kPartitionShift) | (sequence & ((1ULL << kPartitionShift) - 1));
}

// Delivery tags of changelog messages: the top bit set, then partition and commit.
constexpr uint64_t kChangelogTagBit = 1ULL << 63;

struct ChangelogMetrics {
  prometheus::Counter* records = nullptr;
  prometheus::Counter* restores = nullptr;
  prometheus::Counter* restored_records = nullptr;
  prometheus::Counter* restore_seconds = nullptr;
};

ChangelogMetrics ChangelogMetricsFor(const std::string& stage) {
  auto registry = MetricsRegistry();
  static auto& records = prometheus::BuildCounter()
                             .Name("streamrec_changelog_records_total")
                             .Help("Changelog records produced (store records and commit markers)")
                             .Register(*registry);
  static auto& restores = prometheus::BuildCounter()
                              .Name("streamrec_changelog_restores_total")
                              .Help("Partition stores restored from their changelog")
                              .Register(*registry);
  static auto& restored = prometheus::BuildCounter()
                              .Name("streamrec_changelog_restored_records_total")
                              .Help("Changelog records applied by restores")
                              .Register(*registry);
  static auto& seconds = prometheus::BuildCounter()
                             .Name("streamrec_changelog_restore_seconds_total")
                             .Help("Time spent restoring partition stores from their changelog")
                             .Register(*registry);
  ChangelogMetrics m;
  m.records = &records.Add({{"stage", stage}});
  m.restores = &restores.Add({{"stage", stage}});
  m.restored_records = &restored.Add({{"stage", stage}});
  m.restore_seconds = &seconds.Add({{"stage", stage}});
  return m;
}

}  // namespace

// Reads a changelog partition with a group-less consumer (assign, read, unassign).
// Processing thread only.
class StageRunner::KafkaChangelogSource : public ChangelogSource {
 public:
  KafkaChangelogSource(std::string topic, std::unique_ptr<KafkaConsumer> consumer, const std::function<bool()>* const* stop)
      : topic_(std::move(topic)), consumer_(std::move(consumer)), stop_(stop) {}

  const std::string& topic() const override { return topic_; }

  Result<std::pair<int64_t, int64_t>> Watermarks(int32_t partition) override {
    Result<std::pair<int64_t, int64_t>> marks = Status::Unavailable("not asked");
    for (int attempt = 0; attempt < 5; ++attempt) {
      marks = consumer_->QueryWatermarks(topic_, partition, kMetadataTimeoutMs);
      if (marks.ok() || Stopping()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return marks;
  }

  Status Read(int32_t partition, int64_t from, int64_t to,
              const std::function<Status(const state::ChangelogEntry&)>& fn) override {
    if (from >= to) return Status::Ok();
    STREAMREC_RETURN_IF_ERROR(consumer_->Assign({{topic_, partition, from}}));
    Status st = ReadAssigned(partition, from, to, fn);
    Status un = consumer_->Unassign();
    return st.ok() ? un : st;
  }

 private:
  bool Stopping() const { return *stop_ != nullptr && (**stop_)(); }

  Status ReadAssigned(int32_t partition, int64_t from, int64_t to,
                      const std::function<Status(const state::ChangelogEntry&)>& fn) {
    // A partition whose records stop coming before `to` (a broker gone) fails the read
    // after this long without a record; the task is then not opened.
    constexpr auto kStall = std::chrono::seconds(60);
    auto last_progress = std::chrono::steady_clock::now();
    int64_t next = from;
    std::vector<Record> records;
    state::ChangelogEntry entry;
    while (next < to) {
      if (Stopping()) return Status::Unavailable("stopped while reading changelog " + topic_);
      records.clear();
      auto polled = consumer_->PollBatch(1000, 100, &records);
      if (!polled.ok()) return polled.status().WithContext("reading changelog " + topic_);
      for (const Record& r : records) {
        if (r.topic != topic_ || r.partition != partition || r.offset < next) continue;
        if (r.offset >= to) {
          next = to;
          break;
        }
        auto value = state::DecodeChangelogValue(r.value);
        if (!value.ok()) {
          return value.status().WithContext(topic_ + ":" + std::to_string(partition) + "@" + std::to_string(r.offset));
        }
        entry.offset = r.offset;
        entry.key = r.key;
        entry.value = std::move(value).value();
        STREAMREC_RETURN_IF_ERROR(fn(entry));
        next = r.offset + 1;
      }
      if (!records.empty()) {
        last_progress = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_progress > kStall) {
        return Status::Unavailable("changelog " + topic_ + ":" + std::to_string(partition) + ": no record for " +
                                   std::to_string(kStall.count()) + " s at offset " + std::to_string(next) +
                                   " of " + std::to_string(to));
      }
    }
    return Status::Ok();
  }

  std::string topic_;
  std::unique_ptr<KafkaConsumer> consumer_;
  const std::function<bool()>* const* stop_;
};

// The context of a kProcessorManaged topology's one processor: forwards go straight to
// the producer, punctuations by wall clock (after every poll) and stream time (the
// largest record timestamp seen over all partitions). Processing thread only.
class StageRunner::ManagedContext : public ProcessorContext {
 public:
  ManagedContext(StageRunner* runner, std::unique_ptr<Processor> processor)
      : runner_(runner), processor_(std::move(processor)), schedule_(runner->topology_.name) {}

  Processor* processor() { return processor_.get(); }

  Status Process(const Record& record) {
    current_ = &record;
    Status st = processor_->Process(record);
    current_ = nullptr;
    if (!st.ok()) return st;
    return schedule_.OnRecordTime(record.timestamp_ms);
  }

  Status PunctuateWallClock() { return schedule_.OnWallClock(runner_->clock_->NowMillis()); }

  bool TakeCommitRequest() {
    const bool requested = commit_requested_;
    commit_requested_ = false;
    return requested;
  }

  // ProcessorContext.
  void Forward(OutputRecord record) override {
    ProduceMessage m;
    m.topic = record.topic;
    m.key = record.key;
    m.has_key = record.has_key;
    m.value = record.value;
    m.headers = &record.headers;
    m.partition = record.partition;
    m.timestamp_ms = record.timestamp_ms;
    runner_->Fail(runner_->producer_->Produce(m).WithContext("producing to " + record.topic));
  }
  void Schedule(int64_t interval_ms, PunctuationType type, Punctuator punctuator) override {
    schedule_.Add(interval_ms, type, std::move(punctuator));
  }
  state::StateStore* GetStateStore(const std::string& /*name*/) override { return nullptr; }
  void Commit() override { commit_requested_ = true; }
  int32_t partition() const override { return current_ != nullptr ? current_->partition : -1; }
  const Record* current_record() const override { return current_; }
  const Clock& clock() const override { return *runner_->clock_; }

 private:
  StageRunner* runner_;
  std::unique_ptr<Processor> processor_;
  PunctuationSchedule schedule_;
  const Record* current_ = nullptr;
  bool commit_requested_ = false;
};

StageRunner::StageRunner(Topology topology, StageRunnerOptions options)
    : topology_(std::move(topology)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &SystemClock()),
      catch_up_(std::make_shared<CatchUpTracker>(topology_.name)) {}

StageRunner::~StageRunner() {
  // Normally Run() closed everything; this is the path of an early error.
  if (consumer_) consumer_->Close();
  tasks_.clear();
  consumer_.reset();
  producer_.reset();
}

Result<std::unique_ptr<StageRunner>> StageRunner::Create(Topology topology, StageRunnerOptions options) {
  if (options.group_id.empty()) return Status::InvalidArgument("stage runner: group id required");
  if (!topology.processor_supplier) return Status::InvalidArgument("stage runner: no processor supplier");
  const bool managed = topology.state_kind == StateKind::kProcessorManaged;
  if (!managed && options.state_dir.empty()) return Status::InvalidArgument("stage runner: state dir required");
  if (!managed && !topology.co_source_topics.empty()) {
    return Status::InvalidArgument("stage runner: co-source topics need a processor-managed topology");
  }
  // Range assignment is what co-partitions topics: partition p of every source goes to
  // one member. The other strategies balance each topic on its own.
  if (!topology.co_source_topics.empty()) options.assignment_strategy = "range";
  std::unique_ptr<StageRunner> runner(new StageRunner(std::move(topology), std::move(options)));
  StageRunner* self = runner.get();

  ProducerOptions po;
  po.brokers = self->options_.brokers;
  // Never give up on a message: a message that failed for good could be overtaken by a
  // later one, and downstream dedup (by sequence) would then drop it.
  po.properties["message.timeout.ms"] = "0";
  for (const auto& [k, v] : self->options_.properties) po.properties[k] = v;
  po.idempotent = true;
  // Past the shutdown bound a flush purges what is left at once (see BeginShutdown).
  po.stop = [self] { return self->ShutdownExpired(); };
  po.stop_grace_ms = 0;
  po.on_delivery = [self](const DeliveryReport& r) { self->OnDelivery(r); };
  auto producer = KafkaProducer::Create(po);
  if (!producer.ok()) return producer.status().WithContext("creating producer");
  self->producer_ = std::move(producer).value();

  ConsumerOptions co;
  co.brokers = self->options_.brokers;
  // A fetch that finds nothing waits at most 100 ms (librdkafka's default is 500 ms; the
  // embedded broker waits the full time even when data arrives), which bounds the
  // per-hop latency on quiet partitions. Users can override it under `kafka:`.
  co.properties["fetch.wait.max.ms"] = "100";
  for (const auto& [k, v] : self->options_.properties) co.properties[k] = v;
  co.group_id = self->options_.group_id;
  co.stage = self->topology_.name;
  co.assignment_strategy = self->options_.assignment_strategy;
  co.listener = self;
  auto consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status().WithContext("creating consumer");
  self->consumer_ = std::move(consumer).value();
  self->probe_options_ = co;
  self->probe_options_.group_id.clear();  // assign only
  self->probe_options_.listener = nullptr;
  self->probe_options_.stage = self->topology_.name + "-probe";
  self->probe_options_.lag_refresh_ms = 0;

  if (self->options_.changelog && !managed) {
    if (self->options_.changelog_topic.empty()) {
      self->options_.changelog_topic = "streamrec." + self->topology_.name + "-changelog";
    }
    ConsumerOptions rc = co;
    rc.group_id.clear();  // assign only: a private group that never commits
    rc.listener = nullptr;
    rc.stage = self->topology_.name + "-restore";
    rc.lag_refresh_ms = 0;
    auto restore_consumer = KafkaConsumer::Create(rc);
    if (!restore_consumer.ok()) return restore_consumer.status().WithContext("creating the changelog consumer");
    self->changelog_source_ = std::make_unique<KafkaChangelogSource>(
        self->options_.changelog_topic, std::move(restore_consumer).value(), &self->stop_);
  } else {
    self->options_.changelog = false;
    self->options_.changelog_topic.clear();
  }
  return runner;
}

ChangelogCounters StageRunner::changelog_counters() const {
  MutexLock lock(&stats_mu_);
  return changelog_counters_;
}

Result<int64_t> StageRunner::ProduceChangelog(StreamTask* task) {
  if (!task->has_changelog()) return int64_t{0};
  auto batch = task->TakeChangelog();
  if (!batch.ok()) return batch.status().WithContext(topology_.name + " changelog");
  if (batch->records.empty()) return int64_t{0};
  std::string value;
  for (size_t i = 0; i < batch->records.size(); ++i) {
    const state::ChangelogEntry& e = batch->records[i];
    ProduceMessage m;
    m.topic = options_.changelog_topic;
    m.partition = task->partition();
    m.key = e.key;
    if (e.value) {
      value = state::EncodeChangelogValue(*e.value);
      m.value = value;
    } else {
      m.value = std::string_view();  // null: a tombstone
    }
    // Only the marker's report matters: the records before it in the partition are
    // acknowledged with it (idempotent producer, order kept).
    const bool marker = i + 1 == batch->records.size();
    m.tag = marker ? kChangelogTagBit | MakeTag(task->partition(), batch->commit) : 0;
    STREAMREC_RETURN_IF_ERROR(producer_->Produce(m).WithContext("producing to " + options_.changelog_topic));
  }
  const int64_t n = static_cast<int64_t>(batch->records.size());
  {
    MutexLock lock(&stats_mu_);
    changelog_counters_.records_produced += n;
  }
  ChangelogMetricsFor(topology_.name).records->Increment(static_cast<double>(n));
  return n;
}

Status StageRunner::FlushChangelog(const char* why) {
  Status flushed = producer_->Flush(FlushTimeoutMs());
  if (flushed.ok()) return flushed;
  return flushed.WithContext(std::string("waiting for the changelog to be acknowledged ") + why);
}

state::StateDbStats StageRunner::closed_task_stats() const {
  MutexLock lock(&stats_mu_);
  return closed_stats_;
}

void StageRunner::Fail(const Status& st) {
  if (error_.ok() && !st.ok()) {
    spdlog::error("[{}] {}", topology_.name, st.ToString());
    error_ = st;
  }
}

Status StageRunner::CommitGroupOffsets(const std::vector<TopicPartitionOffset>& offsets) {
  // librdkafka's synchronous commit waits for a coordinator that may be gone: while
  // running, until the stop; once stopping, within the shutdown bound.
  if (shutting_down_) return consumer_->CommitSync(offsets, FlushTimeoutMs());
  return consumer_->CommitSync(offsets, -1, [this] { return stop_ != nullptr && (*stop_)(); });
}

void StageRunner::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_timeout_ms);
  shutdown_step_ = std::make_unique<ShutdownStep>(topology_.name + " stage's Kafka shutdown");
}

bool StageRunner::ShutdownExpired() const {
  return shutting_down_ && std::chrono::steady_clock::now() >= shutdown_deadline_;
}

int StageRunner::FlushTimeoutMs() const {
  if (!shutting_down_) return 30000;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(shutdown_deadline_ -
                                                                          std::chrono::steady_clock::now())
                        .count();
  return static_cast<int>(std::max<int64_t>(0, left));
}

void StageRunner::EndShutdown() {
  shutdown_step_.reset();
  if (undelivered_at_shutdown_ == 0) return;
  if (managed_ != nullptr) {
    spdlog::warn("[{}] {} produced messages were not acknowledged by Kafka within the shutdown bound of {} ms "
                 "and are lost",
                 topology_.name, undelivered_at_shutdown_, options_.shutdown_timeout_ms);
  } else {
    spdlog::warn("[{}] {} outputs were not acknowledged by Kafka within the shutdown bound of {} ms; they stay "
                 "in the partitions' outboxes and are sent again on the next start",
                 topology_.name, undelivered_at_shutdown_, options_.shutdown_timeout_ms);
  }
}

void StageRunner::OnDelivery(const DeliveryReport& report) {
  if (!report.status.ok() && shutting_down_) {
    // Purged at the shutdown bound (or failed while closing): a partition store re-sends
    // it from its outbox on the next start; not the stage's error.
    ++undelivered_at_shutdown_;
    return;
  }
  if (!report.status.ok()) {
    // Stays in the outbox; the restart sends it again.
    Fail(report.status.WithContext("delivering to " + report.topic));
    return;
  }
  if (managed_ != nullptr) return;  // produced at once: nothing to record
  if ((report.tag & kChangelogTagBit) != 0) {
    const uint64_t tag = report.tag & ~kChangelogTagBit;
    auto it = tasks_.find(static_cast<int32_t>(tag >> kPartitionShift));
    if (it != tasks_.end()) it->second->OnChangelogDelivered(tag & ((1ULL << kPartitionShift) - 1), report.offset);
    return;
  }
  if (report.tag == 0 && report.topic == options_.changelog_topic) return;  // a changelog record
  const int32_t partition = static_cast<int32_t>(report.tag >> kPartitionShift);
  const uint64_t seq = report.tag & ((1ULL << kPartitionShift) - 1);
  auto it = tasks_.find(partition);
  if (it != tasks_.end()) it->second->MarkDelivered(seq);
}

Status StageRunner::ProduceOutputs(int32_t partition, const std::vector<PendingOutput>& outputs) {
  KafkaHeaders headers;
  for (const auto& o : outputs) {
    headers.clear();
    for (const auto& [k, v] : o.message.headers) headers.push_back(KafkaHeader{k, v});
    ProduceMessage m;
    m.topic = o.message.topic;
    m.key = o.message.key;
    m.has_key = o.message.has_key;
    m.value = o.message.value;
    m.headers = &headers;
    m.partition = o.message.partition;
    m.timestamp_ms = o.message.timestamp_ms;
    m.tag = MakeTag(partition, o.sequence);
    STREAMREC_RETURN_IF_ERROR(producer_->Produce(m).WithContext("producing to " + o.message.topic));
  }
  return Status::Ok();
}

Status StageRunner::CommitTasks(const std::vector<StreamTask*>& tasks, bool closing) {
  std::vector<std::pair<int32_t, std::vector<PendingOutput>>> outputs;
  std::vector<TopicPartitionOffset> offsets;
  bool any_output = false;
  int64_t logged = 0;
  for (StreamTask* task : tasks) {
    auto out = task->CommitState(closing);
    if (!out.ok()) return out.status().WithContext(topology_.name + " commit");
    if ((!out->empty() || closing) && task->stored_offset()) {
      // Never below a replay bound: an earlier epoch may have sent outputs up to it.
      const int64_t bound = std::max(*task->stored_offset(), task->replay_until());
      offsets.push_back({topology_.source_topic, task->partition(), bound});
    }
    any_output = any_output || !out->empty();
    outputs.emplace_back(task->partition(), std::move(out).value());
    auto n = ProduceChangelog(task);
    if (!n.ok()) return n.status();
    logged += *n;
  }
  // The changelog of a commit is acknowledged before its group offset moves and before
  // its outputs leave: a store restored from the changelog is then never behind outputs
  // that downstream applied (which would reuse their sequence numbers). A commit without
  // outputs need not wait: the next one with outputs flushes both.
  if (options_.changelog && (any_output || closing) && (logged > 0 || any_output)) {
    Status flushed = FlushChangelog("before committing");
    if (!flushed.ok()) {
      if (shutting_down_) {
        // The outputs stay in the outboxes, the keys pending: both go out on the next start.
        spdlog::warn("[{}] {}", topology_.name, flushed.ToString());
        return Status::Ok();
      }
      return flushed;
    }
  }
  // The group offset bounds what downstream may have applied from a partition: if the
  // partition's store is ever lost, its next owner replays below it record by record
  // (DESIGN §3, "Epochs"). So it moves before the outputs leave.
  if (!offsets.empty()) {
    Status st = CommitGroupOffsets(offsets);
    if (!st.ok()) {
      spdlog::warn("[{}] committing group offsets before producing: {} (a store lost before the next "
                   "commit would replay from a lower bound)",
                   topology_.name, st.ToString());
    }
  }
  for (const auto& [partition, out] : outputs) STREAMREC_RETURN_IF_ERROR(ProduceOutputs(partition, out));
  return Status::Ok();
}

Status StageRunner::CloseTask(int32_t partition, bool commit) {
  auto it = tasks_.find(partition);
  if (it == tasks_.end()) return Status::Ok();
  Status st;
  if (commit && error_.ok()) st = CommitTasks({it->second.get()}, /*closing=*/true);
  // Deliver everything committed so far, so the next owner has nothing to re-send.
  Status flushed = producer_->Flush(FlushTimeoutMs());
  if (!flushed.ok() && shutting_down_) {
    // The broker did not acknowledge within the shutdown bound: the outputs stay in the
    // outbox (EndShutdown says how many).
    spdlog::warn("[{}] closing partition {}: {}", topology_.name, partition, flushed.ToString());
  } else if (st.ok() && commit && !flushed.ok()) {
    st = flushed;
  }
  if (error_.ok()) {
    Status w = it->second->WriteDeliveries();
    if (st.ok()) st = w;
  }
  it->second->CloseProcessor();
  // Memtables to SST files: the next owner opens without replaying the WAL.
  if (error_.ok()) {
    Status f = it->second->db()->Flush();
    if (!f.ok()) spdlog::warn("[{}] flushing partition {}: {}", topology_.name, partition, f.ToString());
  }
  {
    const state::StateDbStats st_db = it->second->db()->Stats();
    MutexLock lock(&stats_mu_);
    closed_stats_.user_bytes_written += st_db.user_bytes_written;
    closed_stats_.wal_bytes_written += st_db.wal_bytes_written;
    closed_stats_.flush_bytes_written += st_db.flush_bytes_written;
    closed_stats_.compaction_bytes_written += st_db.compaction_bytes_written;
    closed_stats_.live_sst_bytes += st_db.live_sst_bytes;
  }
  tasks_.erase(it);
  catch_up_->Forget(topology_.source_topic, partition);
  assigned_.store(static_cast<int>(tasks_.size()));
  return st;
}

Status StageRunner::CommitManaged(const std::vector<TopicPartitionOffset>& partitions, bool closing) {
  // After the final Flush(closing=true) the processor is not flushed again (the revocation
  // inside Close() only moves the group offsets).
  if (!managed_closed_) {
    STREAMREC_RETURN_IF_ERROR(managed_->processor()->Flush(closing).WithContext("flushing " + topology_.name));
    managed_closed_ = closing;
  }
  if (partitions.empty()) return Status::Ok();
  std::vector<TopicPartitionOffset> positions = partitions;
  auto read = consumer_->Positions(partitions);
  if (read.ok()) positions = std::move(read).value();
  std::vector<TopicPartitionOffset> offsets;
  for (const auto& tp : positions) {
    std::optional<int64_t> own = managed_->processor()->CommittableOffset(tp.topic, tp.partition);
    const int64_t offset = own.value_or(tp.offset);
    if (offset >= 0) offsets.push_back({tp.topic, tp.partition, offset});
  }
  if (offsets.empty()) return Status::Ok();
  Status st = CommitGroupOffsets(offsets);
  // The group's offsets only decide where a partition starts when the processor has no
  // position of its own; a refused commit (a rebalance under way) is retried next time.
  if (!st.ok()) spdlog::warn("[{}] committing group offsets: {}", topology_.name, st.ToString());
  return Status::Ok();
}

Result<std::pair<int64_t, int64_t>> StageRunner::Watermarks(const std::string& topic, int32_t partition) {
  Result<std::pair<int64_t, int64_t>> marks = Status::Unavailable("not asked: stopping");
  // Up to ~25 s in all, asked a second at a time so that a stop is honoured within about
  // a second (a broker gone while partitions are assigned would otherwise hold the stop
  // for the whole wait, partition after partition).
  for (int attempt = 0; attempt < 5 * kMetadataTimeoutMs / 1000; ++attempt) {
    if (stop_ != nullptr && (*stop_)()) break;
    marks = consumer_->QueryWatermarks(topic, partition, 1000);
    if (marks.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  return marks;
}

namespace {
// The check of stage `stage`'s stored position `stored` of topic:partition against
// `marks` (the broker's watermarks); `state` names where it is stored.
StoredOffsetCheck MakeStoredOffsetCheck(const std::string& stage, const std::string& start_over,
                                        const std::string& topic, int32_t partition, int64_t stored,
                                        const std::pair<int64_t, int64_t>& marks,
                                        const std::string& state) {
  StoredOffsetCheck check;
  check.stage = stage;
  check.topic = topic;
  check.partition = partition;
  check.stored = stored;
  check.low = marks.first;
  check.high = marks.second;
  check.state = state;
  check.start_over = start_over;
  return check;
}
}  // namespace

Status StageRunner::CheckStoredOffset(const std::string& topic, int32_t partition, int64_t stored,
                                      const std::pair<int64_t, int64_t>& marks, const std::string& state) {
  const StoredOffsetCheck check = MakeStoredOffsetCheck(topology_.name, options_.start_over_hint,
                                                        topic, partition, stored, marks, state);
  StoredOffsetVerdict verdict = runtime::CheckStoredOffset(check);
  if (!verdict.warning.empty()) spdlog::warn("{}", verdict.warning);
  return verdict.error;
}

Status StageRunner::CheckLastRecord(const std::string& topic, int32_t partition, int64_t stored,
                                    const state::RecordIdentity& last, const std::pair<int64_t, int64_t>& marks,
                                    const std::string& state) {
  const StoredOffsetCheck check = MakeStoredOffsetCheck(topology_.name, options_.start_over_hint,
                                                        topic, partition, stored, marks, state);
  if (last.offset >= marks.second) return Status::Ok();  // CheckStoredOffset's case
  std::optional<state::RecordIdentity> found;
  if (last.offset >= marks.first) {
    auto read = ReadRecordIdentity(topic, partition, last.offset);
    if (!read.ok()) {
      spdlog::warn("[{}] {}:{}@{}: reading back the last record the stored state applied: {}; not checked",
                   topology_.name, topic, partition, last.offset, read.status().ToString());
      return Status::Ok();
    }
    found = *read;
  } else {
    // Below the log start: deleted by retention (CheckStoredOffset warned if the
    // position itself is below it).
    found = state::RecordIdentity{marks.first, -1, 0};
  }
  StoredOffsetVerdict verdict = runtime::CheckLastRecord(check, last, found);
  if (!verdict.warning.empty()) spdlog::warn("{}", verdict.warning);
  return verdict.error;
}

Result<std::optional<state::RecordIdentity>> StageRunner::ReadRecordIdentity(const std::string& topic,
                                                                             int32_t partition, int64_t offset) {
  if (probe_ == nullptr) {
    auto probe = KafkaConsumer::Create(probe_options_);
    if (!probe.ok()) return probe.status().WithContext("creating the record probe");
    probe_ = std::move(probe).value();
  }
  STREAMREC_RETURN_IF_ERROR(probe_->Assign({{topic, partition, offset}}));
  std::optional<state::RecordIdentity> found;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kMetadataTimeoutMs);
  std::vector<Record> records;
  Status st;
  while (!found && std::chrono::steady_clock::now() < deadline && !(stop_ != nullptr && (*stop_)())) {
    records.clear();
    auto polled = probe_->PollBatch(100, 100, &records);
    if (!polled.ok()) {
      st = polled.status();
      break;
    }
    for (const Record& r : records) {
      if (r.topic == topic && r.partition == partition && r.offset >= offset) {
        found = IdentifyRecord(r);
        break;
      }
    }
  }
  Status un = probe_->Unassign();
  if (!st.ok()) return st;
  if (!un.ok()) return un;
  return found;
}

void StageRunner::ExpectCatchUp(const std::string& topic, int32_t partition, int64_t start,
                                const Result<std::pair<int64_t, int64_t>>& marks) {
  if (marks.ok()) {
    catch_up_->Expect(topic, partition, start, marks->first, marks->second);
    return;
  }
  // Unknown end: behind, and asked again after a poll that brought nothing (TrackCatchUp).
  // Not fatal: readiness only.
  spdlog::warn("[{}] end offset of {}:{} for readiness: {}", topology_.name, topic, partition,
               marks.status().ToString());
  catch_up_->Expect(topic, partition, start, 0, kUnknownEnd);
}

void StageRunner::TrackCatchUp(const std::vector<Record>& records) {
  if (catch_up_->caught_up() || !catch_up_->started()) return;
  // Readiness only: not worth a broker query once stopping. With the broker gone, a
  // watermark query can outlast its timeout (its request waits on the dead connection),
  // and the poll that ended the stop's assignment would otherwise make one.
  if (stop_ != nullptr && (*stop_)()) return;
  catch_up_->OnRecords(records);
  if (!records.empty() || catch_up_->caught_up()) return;
  // Nothing came: the last offsets may hold no record (compaction, transaction markers).
  const std::vector<TopicPartitionOffset> tps = catch_up_->Behind();  // offset: the end
  std::vector<TopicPartitionOffset> asked = tps;
  for (auto& tp : asked) tp.offset = kOffsetStored;
  auto positions = consumer_->Positions(asked);
  if (!positions.ok()) return;
  for (const auto& tp : *positions) {
    catch_up_->OnPosition(tp.topic, tp.partition, tp.offset);
    for (const auto& behind : tps) {
      if (behind.topic != tp.topic || behind.partition != tp.partition) continue;
      if (behind.offset != kUnknownEnd) break;
      // Its end offset could not be learnt at assignment: ask again.
      auto marks = consumer_->QueryWatermarks(tp.topic, tp.partition, 1000);
      if (marks.ok()) catch_up_->Expect(tp.topic, tp.partition, tp.offset, marks->first, marks->second);
      break;
    }
  }
}

void StageRunner::OnPartitionsAssigned(KafkaConsumer* /*consumer*/,
                                       std::vector<TopicPartitionOffset>* partitions) {
  if (managed_ != nullptr) {
    for (auto& tp : *partitions) {
      std::optional<int64_t> start = managed_->processor()->StartOffset(tp.topic, tp.partition);
      if (start) tp.offset = *start;
      const auto marks = Watermarks(tp.topic, tp.partition);
      const bool stopping = !marks.ok() && stop_ != nullptr && (*stop_)();  // not a broker error
      if (start && *start >= 0 && error_.ok() && !stopping) {
        if (!marks.ok()) {
          Fail(marks.status().WithContext("checking the stored position " + std::to_string(*start) + " of " +
                                          tp.topic + ":" + std::to_string(tp.partition) +
                                          " against the broker's offsets"));
        } else {
          Fail(CheckStoredOffset(tp.topic, tp.partition, *start, *marks,
                                 "the " + topology_.name + "'s stored state"));
        }
      }
      // Without a start of its own the partition starts at the group's offset: its
      // position is known after the first fetch.
      ExpectCatchUp(tp.topic, tp.partition, start ? *start : kOffsetStored, marks);
      managed_assigned_.push_back({tp.topic, tp.partition, kOffsetStored});
      spdlog::info("[{}] assigned {}:{} from offset {}", topology_.name, tp.topic, tp.partition,
                   start ? std::to_string(*start) : std::string("of the group"));
    }
    int sources = 0;
    for (const auto& tp : managed_assigned_) sources += tp.topic == topology_.source_topic ? 1 : 0;
    assigned_.store(sources);
    managed_->processor()->OnAssignmentChanged(managed_assigned_);
    catch_up_->Start();
    return;
  }
  for (auto& tp : *partitions) {
    if (tp.topic != topology_.source_topic) continue;
    if (stop_ != nullptr && (*stop_)()) {
      // Stopping: opening the store and asking the broker about it (seconds each when the
      // broker is gone) would only delay the stop; nothing of it would be processed.
      spdlog::info("[{}] {}:{} not opened: stopping", topology_.name, tp.topic, tp.partition);
      continue;
    }
    StreamTaskOptions to;
    to.state_dir = options_.state_dir;
    to.clock = clock_;
    to.sync_commits = options_.sync_commits;
    const TopicPartitionOffset source{tp.topic, tp.partition, kOffsetStored};
    to.previous_end_offset = [this, source]() -> std::optional<int64_t> {
      auto committed = consumer_->Committed({source}, kMetadataTimeoutMs);
      if (!committed.ok()) {
        // Without the bound the task cannot tell a first start from a lost store.
        spdlog::error("[{}] reading the group offset of {}:{}: {}; assuming the partition never ran",
                      topology_.name, source.topic, source.partition, committed.status().ToString());
        return std::nullopt;
      }
      if (committed->empty() || (*committed)[0].offset < 0) return std::nullopt;
      return (*committed)[0].offset;
    };
    to.stop = [this] { return stop_ != nullptr && (*stop_)(); };
    to.changelog = changelog_source_.get();
    to.restore = options_.changelog_restore;
    to.discard_state = options_.changelog_reset && reset_partitions_.count(tp.partition) == 0;
    // Not ready while the store opens (a restore may take a while): behind until its
    // real expectation replaces this one below.
    catch_up_->Expect(tp.topic, tp.partition, -1, 0, kUnknownEnd);
    auto task = StreamTask::Open(topology_, tp.partition, to);
    if (!task.ok() && stop_ != nullptr && (*stop_)()) {
      // Stopping while the previous owner still held the store: nothing was opened.
      spdlog::info("[{}] {}:{} not opened: {}", topology_.name, tp.topic, tp.partition, task.status().ToString());
      continue;
    }
    if (!task.ok()) {
      Fail(task.status().WithContext("opening task " + std::to_string(tp.partition)));
      continue;
    }
    auto pending = (*task)->PendingOutbox();
    if (!pending.ok()) {
      Fail(pending.status());
      continue;
    }
    const std::string store_dir = options_.state_dir + "/" + topology_.name + "-" + std::to_string(tp.partition);
    const auto marks = Watermarks(tp.topic, tp.partition);
    if (!marks.ok() && stop_ != nullptr && (*stop_)()) {
      // Stopped while asking: the store is closed again unchecked and unused.
      spdlog::info("[{}] {}:{} not started: stopping", topology_.name, tp.topic, tp.partition);
      continue;
    }
    if ((*task)->stored_offset() && error_.ok()) {
      Status checked =
          marks.ok() ? CheckStoredOffset(tp.topic, tp.partition, *(*task)->stored_offset(), *marks, store_dir)
                     : marks.status().WithContext("checking the stored position " +
                                                  std::to_string(*(*task)->stored_offset()) + " of " + tp.topic +
                                                  ":" + std::to_string(tp.partition) + " against the broker's offsets");
      if (checked.ok() && marks.ok() && (*task)->stored_last_record()) {
        checked = CheckLastRecord(tp.topic, tp.partition, *(*task)->stored_offset(), *(*task)->stored_last_record(),
                                  *marks, store_dir);
      }
      if (!checked.ok()) {
        // Nothing of this store is used: no re-send of its outbox, no processing.
        Fail(checked);
        continue;
      }
    }
    tp.offset = (*task)->stored_offset().value_or(kOffsetBeginning);
    const ChangelogRestoreStats& restored = (*task)->restore_stats();
    if (restored.restored) {
      const ChangelogMetrics metrics = ChangelogMetricsFor(topology_.name);
      metrics.restores->Increment();
      metrics.restored_records->Increment(static_cast<double>(restored.records));
      metrics.restore_seconds->Increment(restored.seconds);
      MutexLock lock(&stats_mu_);
      changelog_counters_.restores += 1;
      changelog_counters_.restored_records += restored.records;
      changelog_counters_.restore_seconds += restored.seconds;
      if (!restored.corrupted_moved_to.empty()) changelog_counters_.corrupted_rebuilt += 1;
    }
    spdlog::info("[{}] assigned {}:{} from offset {} ({} outbox messages to re-send{})", topology_.name,
                 tp.topic, tp.partition, tp.offset, pending->size(),
                 restored.restored ? ", restored from " + options_.changelog_topic : std::string());
    StreamTask* raw = task->get();
    tasks_[tp.partition] = std::move(task).value();
    reset_partitions_.insert(tp.partition);
    // Keys whose changelog records were not acknowledged (a crash after a commit, a torn
    // tail) go out first, and are acknowledged before the outbox is re-sent: the outbox's
    // messages may come from those very commits.
    auto logged = ProduceChangelog(raw);
    if (!logged.ok()) {
      Fail(logged.status());
      continue;
    }
    if (*logged > 0 && !pending->empty()) {
      Status flushed = FlushChangelog("before re-sending the outbox");
      if (!flushed.ok()) {
        Fail(flushed);
        continue;
      }
    }
    ExpectCatchUp(tp.topic, tp.partition, tp.offset, marks);
    Fail(ProduceOutputs(raw->partition(), *pending));
  }
  assigned_.store(static_cast<int>(tasks_.size()));
  catch_up_->Start();
}

void StageRunner::OnPartitionsRevoked(KafkaConsumer* /*consumer*/,
                                      const std::vector<TopicPartitionOffset>& partitions) {
  if (managed_ != nullptr) {
    if (error_.ok()) Fail(CommitManaged(partitions, /*closing=*/false));
    DropManaged(partitions, "revoked");
    return;
  }
  for (const auto& tp : partitions) {
    auto it = tasks_.find(tp.partition);
    if (tp.topic != topology_.source_topic || it == tasks_.end()) continue;
    // The closing commit also moves the group offset to the stored one (for lag tools,
    // and never beyond the store: a group offset above it reads as a lost WAL tail).
    Fail(CloseTask(tp.partition, /*commit=*/true));
    spdlog::info("[{}] revoked {}:{}", topology_.name, tp.topic, tp.partition);
  }
}

void StageRunner::DropManaged(const std::vector<TopicPartitionOffset>& partitions, const char* why) {
  for (const auto& tp : partitions) {
    for (auto it = managed_assigned_.begin(); it != managed_assigned_.end(); ++it) {
      if (it->topic == tp.topic && it->partition == tp.partition) {
        managed_assigned_.erase(it);
        catch_up_->Forget(tp.topic, tp.partition);
        spdlog::info("[{}] {} {}:{}", topology_.name, why, tp.topic, tp.partition);
        break;
      }
    }
  }
  int sources = 0;
  for (const auto& tp : managed_assigned_) sources += tp.topic == topology_.source_topic ? 1 : 0;
  assigned_.store(sources);
  managed_->processor()->OnAssignmentChanged(managed_assigned_);
}

void StageRunner::OnPartitionsLost(KafkaConsumer* /*consumer*/,
                                   const std::vector<TopicPartitionOffset>& partitions) {
  if (managed_ != nullptr) {
    DropManaged(partitions, "lost");
    return;
  }
  for (const auto& tp : partitions) {
    if (tp.topic != topology_.source_topic) continue;
    // Another member may own it already: drop uncommitted work, keep what was committed.
    Fail(CloseTask(tp.partition, /*commit=*/false));
    spdlog::warn("[{}] lost {}:{}", topology_.name, tp.topic, tp.partition);
  }
}

Status StageRunner::WaitForSources(const std::function<bool()>& stop) {
  for (const std::string& topic : topology_.source_topics()) {
    for (int attempt = 0;; ++attempt) {
      Result<int> n = consumer_->PartitionCount(topic, kMetadataTimeoutMs);
      if (n.ok() && *n > 0) break;
      if (stop()) return Status::Unavailable("stopped while waiting for topic " + topic);
      if (attempt % 25 == 0) {
        spdlog::info("[{}] waiting for topic {}: {}", topology_.name, topic,
                     n.ok() ? "no partitions" : n.status().ToString());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return Status::Ok();
}

Status StageRunner::Run(const std::function<bool()>& stop) {
  stop_ = &stop;
  struct ForgetStop {
    const std::function<bool()>** stop;
    ~ForgetStop() { *stop = nullptr; }
  } forget_stop{&stop_};
  if (topology_.state_kind == StateKind::kProcessorManaged) {
    managed_ = std::make_unique<ManagedContext>(this, topology_.processor_supplier());
    if (managed_->processor() == nullptr) return Status::InvalidArgument(topology_.name + ": no processor");
    STREAMREC_RETURN_IF_ERROR(managed_->processor()->Init(managed_.get()).WithContext(topology_.name + " init"));
  }
  Status waited = WaitForSources(stop);
  if (!waited.ok()) {
    if (managed_ != nullptr) managed_->processor()->Close();
    return stop() ? Status::Ok() : waited;
  }
  if (options_.changelog) {
    // Checked before joining: a produce to a missing topic would only fail on delivery.
    Result<int> source_n = consumer_->PartitionCount(topology_.source_topic, kMetadataTimeoutMs);
    Result<int> log_n = consumer_->PartitionCount(options_.changelog_topic, kMetadataTimeoutMs);
    if (!source_n.ok()) return source_n.status();
    if (!log_n.ok() || *log_n != *source_n) {
      return Status::FailedPrecondition(
          topology_.name + ": the changelog topic " + options_.changelog_topic +
          (log_n.ok() ? " has " + std::to_string(*log_n) + " partitions" : " is missing (" + log_n.status().ToString() + ")") +
          "; it needs " + std::to_string(*source_n) + " (as " + topology_.source_topic +
          "), compacted: create it with `streamrec topics create`, or turn the changelog off (changelog.enabled: false)");
    }
    spdlog::info("[{}] stores logged to {} ({} partitions); missing stores are restored from it", topology_.name,
                 options_.changelog_topic, *log_n);
  }
  STREAMREC_RETURN_IF_ERROR(consumer_->Subscribe(topology_.source_topics()));
  if (managed_ != nullptr) return RunManaged(stop);
  std::vector<Record> records;
  last_commit_ms_ = clock_->NowMillis();
  while (error_.ok() && !stop()) {
    records.clear();
    auto polled = consumer_->PollBatch(options_.max_poll_records, 50, &records);
    if (!polled.ok()) {
      Fail(polled.status());
      break;
    }
    size_t seen = 0;
    for (const auto& r : records) {
      // A batch can take seconds on a loaded machine: a stop ends it early. What was not
      // processed is not committed (each task commits the offset after its last record)
      // and is read again on the next start.
      if (++seen % 64 == 0 && stop()) break;
      auto it = tasks_.find(r.partition);
      if (it == tasks_.end() || r.topic != topology_.source_topic) continue;
      auto processed = it->second->Process(r);
      if (!processed.ok()) {
        Fail(processed.status().WithContext(topology_.name + " processing " + std::to_string(r.partition) +
                                            "@" + std::to_string(r.offset)));
        break;
      }
      if (*processed) processed_.fetch_add(1);
    }
    if (!error_.ok()) break;
    // After the batch was processed: ready means the records up to the end are in state.
    TrackCatchUp(records);
    const int64_t now = clock_->NowMillis();
    const bool interval_due = now - last_commit_ms_ >= options_.commit_interval_ms;
    std::vector<StreamTask*> due;
    for (auto& [p, task] : tasks_) {
      Fail(task->Punctuate());
      if (interval_due || task->commit_requested() ||
          task->records_since_commit() >= options_.commit_every_records) {
        due.push_back(task.get());
      }
    }
    if (!due.empty() && error_.ok()) Fail(CommitTasks(due));
    if (interval_due) last_commit_ms_ = now;
    producer_->Poll(0);
  }
  BeginShutdown();
  // Leaving the group revokes (commits and closes) every task, unless we failed. Bounded:
  // with the coordinator gone librdkafka's close waits out session.timeout.ms; the tasks
  // it did not revoke by then are committed and closed below.
  Status closed = consumer_->Close(FlushTimeoutMs());
  if (closed.code() == Status::Code::kTimeout) {
    spdlog::warn("[{}] {}; closing the partitions without it", topology_.name, closed.ToString());
  } else if (error_.ok() && !closed.ok()) {
    Fail(closed);
  }
  std::vector<int32_t> left;
  for (auto& [p, task] : tasks_) left.push_back(p);
  for (int32_t p : left) Fail(CloseTask(p, /*commit=*/error_.ok()));
  Status flushed = producer_->Flush(FlushTimeoutMs());
  if (!flushed.ok()) spdlog::warn("[{}] final flush: {}", topology_.name, flushed.ToString());
  EndShutdown();
  return error_;
}

}  // namespace streamrec::runtime

namespace streamrec::runtime {

Status StageRunner::RunManaged(const std::function<bool()>& stop) {
  std::vector<Record> records;
  last_commit_ms_ = clock_->NowMillis();
  const std::vector<std::string> sources = topology_.source_topics();
  while (error_.ok() && !stop()) {
    records.clear();
    auto polled = consumer_->PollBatch(options_.max_poll_records, 50, &records);
    if (!polled.ok()) {
      Fail(polled.status());
      break;
    }
    for (const auto& r : records) {
      if (std::find(sources.begin(), sources.end(), r.topic) == sources.end()) continue;
      Status st = managed_->Process(r);
      if (!st.ok()) {
        Fail(st.WithContext(topology_.name + " processing " + r.topic + ":" + std::to_string(r.partition) + "@" +
                            std::to_string(r.offset)));
        break;
      }
      processed_.fetch_add(1);
    }
    if (!error_.ok()) break;
    TrackCatchUp(records);
    Fail(managed_->PunctuateWallClock());
    const int64_t now = clock_->NowMillis();
    if (error_.ok() && (managed_->TakeCommitRequest() || now - last_commit_ms_ >= options_.commit_interval_ms)) {
      Fail(CommitManaged(managed_assigned_, /*closing=*/false));
      last_commit_ms_ = now;
    }
    producer_->Poll(0);
  }
  // The last commit before leaving: the processor flushes (a trainer's final snapshot)
  // and what it forwarded is delivered before the group offsets move. The shutdown bound
  // starts after the processor's own flush (local work: the final snapshot).
  if (error_.ok()) {
    Fail(managed_->processor()->Flush(/*closing=*/true).WithContext("flushing " + topology_.name));
    managed_closed_ = true;
  }
  BeginShutdown();
  Status flushed = producer_->Flush(FlushTimeoutMs());
  if (!flushed.ok()) spdlog::warn("[{}] flushing before the last commit: {}", topology_.name, flushed.ToString());
  if (error_.ok()) Fail(CommitManaged(managed_assigned_, /*closing=*/true));
  // Close() revokes what is left: CommitManaged once more (harmless), then drops them.
  Status closed = consumer_->Close(FlushTimeoutMs());
  if (closed.code() == Status::Code::kTimeout) {
    spdlog::warn("[{}] {}", topology_.name, closed.ToString());
  } else if (error_.ok() && !closed.ok()) {
    Fail(closed);
  }
  managed_->processor()->Close();
  flushed = producer_->Flush(FlushTimeoutMs());
  if (!flushed.ok()) spdlog::warn("[{}] final flush: {}", topology_.name, flushed.ToString());
  EndShutdown();
  return error_;
}

}  // namespace streamrec::runtime
