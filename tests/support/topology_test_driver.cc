#include "tests/support/topology_test_driver.h"

#include <algorithm>
#include <filesystem>

namespace streamrec::runtime {

Record OutputAsRecord(const state::OutboxMessage& m, int64_t offset) {
  Record r;
  r.topic = m.topic;
  r.partition = m.partition;
  r.offset = offset;
  r.key = m.key;
  r.value = m.value;
  r.has_key = m.has_key;
  for (const auto& [k, v] : m.headers) r.headers.push_back({k, v});
  return r;
}

TopologyTestDriver::TopologyTestDriver(Topology topology, std::string state_dir, int32_t partition,
                                       int64_t start_millis)
    : topology_(std::move(topology)), state_dir_(std::move(state_dir)), partition_(partition),
      clock_(start_millis >= 0 ? start_millis : SystemClock().NowMillis()) {}

TopologyTestDriver::~TopologyTestDriver() = default;

Status TopologyTestDriver::Open() {
  task_.reset();
  StreamTaskOptions options;
  options.state_dir = state_dir_;
  options.clock = &clock_;
  options.open_retry_ms = 0;
  options.sync_commits = sync_commits_;
  options.previous_end_offset = [this] { return group_offset_; };
  auto task = StreamTask::Open(topology_, partition_, options);
  if (!task.ok()) return task.status();
  task_ = std::move(task).value();
  next_offset_ = task_->stored_offset().value_or(0);
  auto pending = task_->PendingOutbox();
  if (!pending.ok()) return pending.status();
  return Deliver(std::move(pending).value(), /*ack=*/true);
}

Result<bool> TopologyTestDriver::PipeInput(Record record) {
  if (!task_) return Status::FailedPrecondition("driver not open");
  if (record.topic.empty()) record.topic = topology_.source_topic;
  record.partition = partition_;
  if (record.offset < 0) record.offset = next_offset_;
  if (record.timestamp_ms < 0) record.timestamp_ms = clock_.NowMillis();
  next_offset_ = record.offset + 1;
  auto processed = task_->Process(record);
  if (!processed.ok()) return processed;
  if (task_->commit_requested()) STREAMREC_RETURN_IF_ERROR(Commit());
  return processed;
}

Result<bool> TopologyTestDriver::PipeInput(std::string key, std::string value, int64_t timestamp_ms) {
  Record r;
  r.key = std::move(key);
  r.has_key = true;
  r.value = std::move(value);
  r.timestamp_ms = timestamp_ms;
  return PipeInput(std::move(r));
}

Status TopologyTestDriver::AdvanceWallClock(int64_t millis) {
  if (!task_) return Status::FailedPrecondition("driver not open");
  clock_.Advance(millis);
  STREAMREC_RETURN_IF_ERROR(task_->Punctuate());
  if (task_->commit_requested()) return Commit();
  return Status::Ok();
}

Status TopologyTestDriver::Commit(bool deliver, bool ack, bool closing) {
  if (!task_) return Status::FailedPrecondition("driver not open");
  auto out = task_->CommitState(closing);
  if (!out.ok()) return out.status();
  // As StageRunner does: the group offset moves before the outputs are produced.
  if ((!out->empty() || closing) && task_->stored_offset()) {
    group_offset_ = std::max(*task_->stored_offset(), task_->replay_until());
  }
  if (!deliver) return Status::Ok();
  return Deliver(std::move(out).value(), ack);
}

Status TopologyTestDriver::Deliver(std::vector<PendingOutput> outputs, bool ack) {
  for (auto& o : outputs) {
    if (ack) task_->MarkDelivered(o.sequence);
    outputs_[o.message.topic].push_back(std::move(o.message));
  }
  return task_->WriteDeliveries();
}

void TopologyTestDriver::Crash() { task_.reset(); }

Status TopologyTestDriver::DeleteStore() {
  if (task_) return Status::FailedPrecondition("close or crash the task before deleting its store");
  std::error_code ec;
  std::filesystem::remove_all(state_dir_ + "/" + topology_.name + "-" + std::to_string(partition_), ec);
  if (ec) return Status::IoError("deleting the store: " + ec.message());
  next_offset_ = 0;
  return Status::Ok();
}

Status TopologyTestDriver::Close() {
  if (!task_) return Status::Ok();
  Status st = Commit(/*deliver=*/true, /*ack=*/true, /*closing=*/true);
  task_->CloseProcessor();
  task_.reset();
  return st;
}

std::vector<state::OutboxMessage> TopologyTestDriver::ReadOutput(const std::string& topic) {
  auto it = outputs_.find(topic);
  if (it == outputs_.end()) return {};
  std::vector<state::OutboxMessage> out = std::move(it->second);
  outputs_.erase(it);
  return out;
}

}  // namespace streamrec::runtime
