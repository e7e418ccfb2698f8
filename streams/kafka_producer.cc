#include "streams/kafka_producer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <unordered_map>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "core/thread_annotations.h"
#include "streams/rdkafka_conf.h"
#include "streams/rdkafka_log.h"
#include "streams/stream_metrics.h"

namespace streamrec {

struct KafkaProducer::Rep : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
  ProducerOptions options;
  std::unique_ptr<RdKafka::Producer> producer;
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  Mutex mu;
  Status first_error GUARDED_BY(mu);  // since the last Flush
  Status fatal GUARDED_BY(mu);
  std::unordered_map<std::string, prometheus::Counter*> produced_counters GUARDED_BY(mu);
  std::unordered_map<std::string, prometheus::Counter*> error_counters GUARDED_BY(mu);

  prometheus::Counter* CounterFor(bool ok, const std::string& topic) {
    MutexLock lock(&mu);
    auto& map = ok ? produced_counters : error_counters;
    auto it = map.find(topic);
    if (it != map.end()) return it->second;
    // Both series of a topic are created together: the error counter exists at 0 from the
    // first delivery on, so error-rate queries have data before the first error.
    produced_counters.emplace(topic, &EventsProducedFamily().Add({{"topic", topic}}));
    error_counters.emplace(topic, &ProduceErrorsFamily().Add({{"topic", topic}}));
    return map.at(topic);
  }

  // Runs on the thread inside poll()/flush(). No exception may escape into librdkafka.
  void dr_cb(RdKafka::Message& msg) override {
    try {
      DeliveryReport report;
      report.topic = msg.topic_name();
      report.partition = msg.partition();
      report.offset = msg.offset();
      report.tag = reinterpret_cast<uintptr_t>(msg.msg_opaque());
      const bool ok = msg.err() == RdKafka::ERR_NO_ERROR;
      if (ok) {
        delivered.fetch_add(1, std::memory_order_relaxed);
      } else {
        failed.fetch_add(1, std::memory_order_relaxed);
        report.status = Status::Unavailable(
            "delivery to " + internal::PartitionName(report.topic, report.partition) +
            " failed: " + msg.errstr());
        MutexLock lock(&mu);
        if (first_error.ok()) first_error = report.status;
      }
      CounterFor(ok, report.topic)->Increment();
      if (options.on_delivery) options.on_delivery(report);
    } catch (const std::exception& e) {
      spdlog::error("[producer] delivery callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("[producer] delivery callback threw a non-standard exception");
    }
  }

  void event_cb(RdKafka::Event& event) override {
    try {
      switch (event.type()) {
        case RdKafka::Event::EVENT_ERROR:
          if (event.fatal()) {
            MutexLock lock(&mu);
            fatal = Status::Internal("fatal producer error: " + event.str());
            spdlog::error("[producer] {}", fatal.message());
          } else {
            spdlog::debug("[producer] {}: {}", RdKafka::err2str(event.err()), event.str());
          }
          break;
        case RdKafka::Event::EVENT_LOG:
          internal::LogRdKafkaLine(event.severity(), "producer", event.fac(), event.str());
          break;
        default:
          break;
      }
    } catch (...) {
      // Logging must never throw into librdkafka.
    }
  }
};

KafkaProducer::KafkaProducer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const ProducerOptions& options) {
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  KafkaProperties props;
  props["enable.idempotence"] = options.idempotent ? "true" : "false";
  props["linger.ms"] = std::to_string(options.linger_ms);
  props["client.id"] = "streamrec";
  // The Java client's partitioner (also kafka-python's), so every client puts a key on
  // the same partition: clicks and rec-requests stay co-partitioned whoever produced them.
  props["partitioner"] = "murmur2_random";
  for (const auto& [k, v] : options.properties) props[k] = v;
  if (!options.brokers.empty()) props["bootstrap.servers"] = options.brokers;
  if (props.count("bootstrap.servers") == 0 && props.count("metadata.broker.list") == 0) {
    return Status::InvalidArgument(
        "producer: no brokers (set --brokers or kafka.bootstrap.servers)");
  }
  auto conf = internal::BuildGlobalConf(props);
  if (!conf.ok()) return conf.status().WithContext("producer");
  std::string err;
  if (conf.value()->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(rep.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf.value()->set("event_cb", static_cast<RdKafka::EventCb*>(rep.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    return Status::Internal("producer: " + err);
  }
  rep->producer.reset(RdKafka::Producer::create(conf.value().get(), err));
  if (!rep->producer) return Status::InvalidArgument("producer: " + err);
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(rep)));
}

namespace {

bool Stopping(const ProducerOptions& options) { return options.stop && options.stop(); }

// librdkafka's flush, in slices of at most 100 ms while options.stop can end it. Once
// stop is true: stop_grace_ms more for acknowledgements in flight, then everything left
// is purged. Returns the flush's code; *purged counts the messages purged.
RdKafka::ErrorCode FlushStoppable(RdKafka::Producer* producer, const ProducerOptions& options,
                                  int timeout_ms, int* purged) {
  *purged = 0;
  if (!options.stop) return producer->flush(timeout_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (Stopping(options)) {
      RdKafka::ErrorCode code = producer->flush(
          static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, options.stop_grace_ms))));
      if (code != RdKafka::ERR__TIMED_OUT) return code;
      *purged = producer->outq_len();
      producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer->flush(500);  // serves the purged messages' delivery reports
      return RdKafka::ERR__TIMED_OUT;
    }
    const RdKafka::ErrorCode code =
        producer->flush(static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, 100))));
    if (code != RdKafka::ERR__TIMED_OUT || left <= 100) return code;
  }
}

}  // namespace

KafkaProducer::~KafkaProducer() {
  if (rep_ && rep_->producer) {
    int purged = 0;
    if (FlushStoppable(rep_->producer.get(), rep_->options, 10000, &purged) !=
        RdKafka::ERR_NO_ERROR) {
      spdlog::warn("[producer] {} messages not delivered at shutdown",
                   purged > 0 ? purged : rep_->producer->outq_len());
    }
  }
}

Status KafkaProducer::Produce(const ProduceMessage& m) {
  std::unique_ptr<RdKafka::Headers> headers;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(rep_->options.queue_full_timeout_ms);
  const std::string topic(m.topic);
  while (true) {
    if (m.headers != nullptr && !m.headers->empty()) {
      headers.reset(RdKafka::Headers::create());
      for (const auto& h : *m.headers) {
        headers->add(h.key, h.value.data(), h.value.size());
      }
    }
    const RdKafka::ErrorCode code = rep_->producer->produce(
        topic, m.partition < 0 ? RdKafka::Topic::PARTITION_UA : m.partition,
        RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(m.value.data()), m.value.size(),
        m.has_key ? m.key.data() : nullptr, m.has_key ? m.key.size() : 0, m.timestamp_ms,
        headers.get(), reinterpret_cast<void*>(static_cast<uintptr_t>(m.tag)));
    if (code == RdKafka::ERR_NO_ERROR) {
      headers.release();  // owned by librdkafka now
      return Status::Ok();
    }
    if (code != RdKafka::ERR__QUEUE_FULL) {
      return Status::Unavailable("produce to " + topic + ": " + RdKafka::err2str(code));
    }
    if (Stopping(rep_->options)) {
      return Status::Unavailable("produce to " + topic + ": stopped while the local queue was full");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("produce to " + topic + ": local queue full for " +
                                 std::to_string(rep_->options.queue_full_timeout_ms) + " ms");
    }
    rep_->producer->poll(10);  // serve delivery reports to make room
  }
}

Status KafkaProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                              const KafkaHeaders* headers, int64_t timestamp_ms) {
  ProduceMessage m;
  m.topic = topic;
  m.key = key;
  m.value = value;
  m.headers = headers;
  m.timestamp_ms = timestamp_ms;
  return Produce(m);
}

int KafkaProducer::Poll(int timeout_ms) { return rep_->producer->poll(timeout_ms); }

Status KafkaProducer::Flush(int timeout_ms) {
  int purged = 0;
  const RdKafka::ErrorCode code =
      FlushStoppable(rep_->producer.get(), rep_->options, timeout_ms, &purged);
  Status first;
  {
    MutexLock lock(&rep_->mu);
    if (!rep_->fatal.ok()) return rep_->fatal;
    first = rep_->first_error;
    rep_->first_error = Status::Ok();
  }
  if (purged > 0) {
    return Status::Unavailable("flush: stopped with " + std::to_string(purged) +
                               " messages not acknowledged by Kafka (purged, reported failed)");
  }
  if (code == RdKafka::ERR__TIMED_OUT) {
    return Status::Timeout("flush: " + std::to_string(rep_->producer->outq_len()) +
                           " messages still undelivered after " + std::to_string(timeout_ms) +
                           " ms");
  }
  return first;
}

Result<int> KafkaProducer::PartitionCount(const std::string& topic, int timeout_ms) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(rep_->producer.get(), topic, nullptr, err));
  if (!t) return Status::InvalidArgument("topic " + topic + ": " + err);
  RdKafka::Metadata* raw = nullptr;
  const RdKafka::ErrorCode code = rep_->producer->metadata(false, t.get(), &raw, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("metadata for " + topic + ": " + RdKafka::err2str(code));
  }
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
      return Status::NotFound("topic " + topic + " does not exist");
    }
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      return Status::Unavailable("metadata for " + topic + ": " + RdKafka::err2str(tm->err()));
    }
    return static_cast<int>(tm->partitions()->size());
  }
  return Status::NotFound("topic " + topic + " does not exist");
}

int KafkaProducer::OutstandingCount() const { return rep_->producer->outq_len(); }
int64_t KafkaProducer::delivered_count() const { return rep_->delivered.load(); }
int64_t KafkaProducer::failed_count() const { return rep_->failed.load(); }
Status KafkaProducer::fatal_error() const {
  MutexLock lock(&rep_->mu);
  return rep_->fatal;
}
std::string KafkaProducer::name() const { return rep_->producer->name(); }

}  // namespace streamrec
