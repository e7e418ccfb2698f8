#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "streams/kafka_producer.h"

namespace streamrec {

// A producer whose sends return only once Kafka has acknowledged them: for a caller that
// must answer "durable" or "not" (serving's POST /v1/events answers 202 only after
// this). Owns a KafkaProducer and a thread that serves its delivery reports, so callers
// on any number of threads just wait for theirs. Thread-safe.
class AckedProducer {
 public:
  // `options.on_delivery` must be empty (this class uses it). Consider a
  // message.timeout.ms near the callers' wait (in `options.properties`), so a message
  // whose caller gave up is not delivered long after.
  static Result<std::unique_ptr<AckedProducer>> Create(ProducerOptions options);
  // Stops the delivery thread and flushes for up to 10 s (less once options.stop says
  // so); later acknowledgements are not waited for.
  ~AckedProducer();
  AckedProducer(const AckedProducer&) = delete;
  AckedProducer& operator=(const AckedProducer&) = delete;

  // Produces every message (their `tag`s are replaced) and waits until each is
  // acknowledged: OK. The first failed delivery's Status as soon as one fails; a failure
  // to enqueue; or Unavailable after `timeout_ms` ("k of n events not acknowledged by
  // Kafka within T ms"). On an error some messages may still have been written (or be
  // written later, until message.timeout.ms): a retry is at least once.
  Status SendAndWait(const std::vector<ProduceMessage>& messages, int timeout_ms);

  KafkaProducer& producer() { return *producer_; }

 private:
  struct Batch {
    size_t pending = 0;
    Status error;
  };
  AckedProducer() = default;
  void OnDelivery(const DeliveryReport& report);
  void Forget(const std::vector<uint64_t>& tags);

  std::unique_ptr<KafkaProducer> producer_;
  std::mutex mu_;
  std::condition_variable delivered_;
  std::unordered_map<uint64_t, std::shared_ptr<Batch>> waiting_;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> next_tag_{1};
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace streamrec
