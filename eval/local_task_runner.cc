#include "eval/local_task_runner.h"

namespace streamrec::eval {
namespace {

Record ToRecord(state::OutboxMessage m) {
  Record r;
  r.topic = std::move(m.topic);
  r.partition = m.partition < 0 ? 0 : m.partition;
  r.key = std::move(m.key);
  r.has_key = m.has_key;
  r.value = std::move(m.value);
  r.timestamp_ms = m.timestamp_ms;
  for (auto& [k, v] : m.headers) r.headers.push_back({std::move(k), std::move(v)});
  return r;
}

}  // namespace

LocalTaskRunner::LocalTaskRunner(runtime::Topology topology, int32_t partition)
    : topology_(std::move(topology)), partition_(partition), clock_(1'700'000'000'000) {}

LocalTaskRunner::~LocalTaskRunner() = default;

Result<std::unique_ptr<LocalTaskRunner>> LocalTaskRunner::Open(runtime::Topology topology,
                                                              const std::string& state_dir,
                                                              int32_t partition) {
  std::unique_ptr<LocalTaskRunner> runner(new LocalTaskRunner(std::move(topology), partition));
  runtime::StreamTaskOptions options;
  options.state_dir = state_dir;
  options.clock = &runner->clock_;
  options.open_retry_ms = 0;
  // In-process evaluation commits after every event into a temporary store that no crash
  // outlives: syncing each commit would only cost time.
  options.sync_commits = false;
  auto task = runtime::StreamTask::Open(runner->topology_, partition, options);
  if (!task.ok()) return task.status();
  runner->task_ = std::move(task).value();
  runner->next_offset_ = runner->task_->stored_offset().value_or(0);
  return runner;
}

Result<std::vector<Record>> LocalTaskRunner::Process(Record record) {
  STREAMREC_RETURN_IF_ERROR(ProcessOnly(std::move(record)));
  return Commit();
}

Status LocalTaskRunner::ProcessOnly(Record record) {
  if (!task_) return Status::FailedPrecondition("runner closed");
  record.topic = topology_.source_topic;
  record.partition = partition_;
  record.offset = next_offset_++;
  auto processed = task_->Process(record);
  return processed.ok() ? Status::Ok() : processed.status();
}

Result<std::vector<Record>> LocalTaskRunner::Commit() {
  if (!task_) return Status::FailedPrecondition("runner closed");
  auto committed = task_->CommitState();
  if (!committed.ok()) return committed.status();
  std::vector<Record> out;
  out.reserve(committed->size());
  for (runtime::PendingOutput& p : *committed) {
    // Delivered at once: the outbox entry is deleted with the next commit.
    task_->MarkDelivered(p.sequence);
    out.push_back(ToRecord(std::move(p.message)));
  }
  return out;
}

Status LocalTaskRunner::Close() {
  if (!task_) return Status::Ok();
  auto committed = task_->CommitState(/*closing=*/true);
  task_->CloseProcessor();
  task_.reset();
  return committed.ok() ? Status::Ok() : committed.status();
}

}  // namespace streamrec::eval
