#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"

namespace streamrec {

// What the broker said about one produced message. Passed to
// ProducerOptions::on_delivery on the thread that calls Poll() or Flush().
struct DeliveryReport {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;  // assigned offset when status.ok()
  uint64_t tag = 0;     // ProduceMessage::tag, to match reports to messages
  Status status;        // OK when durably written, else why not (after librdkafka retries)
};

struct ProducerOptions {
  // bootstrap.servers; overrides properties["bootstrap.servers"] when non-empty.
  std::string brokers;
  // librdkafka properties passed verbatim (from `kafka:` in the config). Applied after
  // the defaults below, so users can override any of them.
  KafkaProperties properties;
  // enable.idempotence (default true: no duplicates or reordering from retries; implies
  // acks=all).
  bool idempotent = true;
  // linger.ms default (5 ms batches well without adding visible latency).
  int linger_ms = 5;
  // How long Produce() keeps retrying (polling for delivery reports in between) while
  // the local queue is full before it gives up with Unavailable; default 30 s.
  int queue_full_timeout_ms = 30000;
  // Called for every message once its fate is known, on the thread that runs Poll() or
  // Flush(). Must not throw (exceptions are caught and logged, never cross librdkafka).
  std::function<void(const DeliveryReport&)> on_delivery;
  // The process is stopping (e.g. apps' StopRequested); may be empty (never). Asked about
  // every 100 ms while Produce() waits on a full queue and while Flush() or the destructor
  // wait: once true, they wait at most stop_grace_ms more for acknowledgements, then purge
  // what is left (each purged message gets a failed DeliveryReport), so a stopping
  // command never waits on a broker that does not answer.
  std::function<bool()> stop;
  int stop_grace_ms = 1000;
};

// One message to produce. Views must stay valid for the duration of Produce() only
// (librdkafka copies key, value and headers).
struct ProduceMessage {
  std::string_view topic;
  std::string_view key;  // empty with has_key=false means a null key
  bool has_key = true;
  std::string_view value;
  const KafkaHeaders* headers = nullptr;  // optional
  int32_t partition = -1;    // -1: by key, murmur2 as the Java client (partitioner=murmur2_random)
  int64_t timestamp_ms = 0;  // 0: now (CreateTime set by librdkafka)
  uint64_t tag = 0;          // returned in the DeliveryReport
};

// A librdkafka producer with delivery reports, idempotence on, and retry on a full
// queue. Produce() may be called from any thread; Poll() and Flush() (which run the
// delivery callback) from one thread at a time. Destroying it flushes for up to 10 s
// (less once options.stop says so).
class KafkaProducer {
 public:
  static Result<std::unique_ptr<KafkaProducer>> Create(const ProducerOptions& options);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Enqueues one message. On a full local queue, polls and retries until
  // queue_full_timeout_ms. The message is durable only when its DeliveryReport says so.
  Status Produce(const ProduceMessage& message);
  // Convenience: key/value to a topic, partition chosen by key.
  Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                 const KafkaHeaders* headers = nullptr, int64_t timestamp_ms = 0);

  // Serves delivery reports; returns how many were served.
  int Poll(int timeout_ms);
  // Waits until every enqueued message has a delivery report. Timeout if some remain;
  // Unavailable if options.stop ended the wait (the rest purged); otherwise the first
  // delivery error since the last Flush, if any (messages that failed are also reported
  // one by one to on_delivery).
  Status Flush(int timeout_ms);

  // Asks the cluster for `topic`'s metadata (partitions and their leaders) and returns
  // its partition count. Besides answering, it makes the producer know the topic before
  // its first message: otherwise that message waits for librdkafka's topic scan (about
  // a second) before its leader is known. NotFound when the topic does not exist.
  Result<int> PartitionCount(const std::string& topic, int timeout_ms);

  // Messages enqueued but not yet reported.
  int OutstandingCount() const;
  // Totals since creation.
  int64_t delivered_count() const;
  int64_t failed_count() const;
  // A fatal error (idempotence violated) makes the producer unusable; reported here.
  Status fatal_error() const;

  std::string name() const;

 private:
  struct Rep;
  explicit KafkaProducer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec
