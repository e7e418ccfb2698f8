#include "streams/acked_producer.h"

#include <chrono>

namespace streamrec {

Result<std::unique_ptr<AckedProducer>> AckedProducer::Create(ProducerOptions options) {
  if (options.on_delivery) {
    return Status::InvalidArgument("AckedProducer: options.on_delivery is its own");
  }
  std::unique_ptr<AckedProducer> self(new AckedProducer());
  AckedProducer* raw = self.get();
  options.on_delivery = [raw](const DeliveryReport& report) { raw->OnDelivery(report); };
  auto producer = KafkaProducer::Create(options);
  if (!producer.ok()) return producer.status();
  self->producer_ = std::move(producer).value();
  // Poll() with a short timeout: reports are served as they come, and the destructor
  // does not wait long for the thread.
  self->poller_ = std::thread([raw] {
    while (!raw->stop_.load()) raw->producer_->Poll(50);
  });
  return self;
}

AckedProducer::~AckedProducer() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
  // KafkaProducer's destructor flushes (its delivery reports land in OnDelivery, which
  // finds nobody waiting any more).
  producer_.reset();
}

void AckedProducer::OnDelivery(const DeliveryReport& report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiting_.find(report.tag);
  if (it == waiting_.end()) return;  // its caller gave up
  Batch& batch = *it->second;
  if (!report.status.ok() && batch.error.ok()) batch.error = report.status;
  --batch.pending;
  waiting_.erase(it);
  delivered_.notify_all();
}

void AckedProducer::Forget(const std::vector<uint64_t>& tags) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t tag : tags) waiting_.erase(tag);
}

Status AckedProducer::SendAndWait(const std::vector<ProduceMessage>& messages, int timeout_ms) {
  if (messages.empty()) return Status::Ok();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto batch = std::make_shared<Batch>();
  std::vector<uint64_t> tags;
  tags.reserve(messages.size());
  for (const ProduceMessage& m : messages) {
    ProduceMessage tagged = m;
    tagged.tag = next_tag_.fetch_add(1);
    {
      // Registered before Produce(): the report may arrive before it returns.
      std::lock_guard<std::mutex> lock(mu_);
      waiting_.emplace(tagged.tag, batch);
      ++batch->pending;
    }
    tags.push_back(tagged.tag);
    Status st = producer_->Produce(tagged);
    if (!st.ok()) {
      Forget(tags);
      return st;
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  const bool done = delivered_.wait_until(
      lock, deadline, [&] { return batch->pending == 0 || !batch->error.ok(); });
  if (done && batch->error.ok()) return Status::Ok();
  const Status error = batch->error;
  const size_t pending = batch->pending;
  lock.unlock();
  Forget(tags);
  if (!error.ok()) return error;
  return Status::Unavailable(std::to_string(pending) + " of " + std::to_string(messages.size()) +
                             " events not acknowledged by Kafka within " +
                             std::to_string(timeout_ms) + " ms");
}

}  // namespace streamrec
