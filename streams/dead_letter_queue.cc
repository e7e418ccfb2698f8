#include "streams/dead_letter_queue.h"

#include <array>

#include "streams/stream_metrics.h"
#include "streams/topics.h"

namespace streamrec {

void CountRejection(RejectReason reason) {
  // One counter per reason, created once.
  static const std::array<prometheus::Counter*, 9> counters = [] {
    std::array<prometheus::Counter*, 9> c{};
    for (size_t i = 0; i < c.size(); ++i) {
      c[i] =
          &EventsRejectedFamily().Add({{"reason", RejectReasonName(static_cast<RejectReason>(i))}});
    }
    return c;
  }();
  const size_t i = static_cast<size_t>(reason);
  if (i < counters.size()) counters[i]->Increment();
}

DeadLetterQueue::DeadLetterQueue(KafkaProducer* producer, std::string topic)
    : producer_(producer), topic_(std::move(topic)) {}

Status DeadLetterQueue::Send(const Record& original, RejectReason reason, std::string_view detail) {
  KafkaHeaders headers = original.headers;
  headers.push_back({kRejectReasonHeader, RejectReasonName(reason)});
  headers.push_back({kRejectDetailHeader, std::string(detail)});
  headers.push_back({kRejectSourceHeader, original.topic + "[" +
                                              std::to_string(original.partition) + "]@" +
                                              std::to_string(original.offset)});
  ProduceMessage m;
  m.topic = topic_;
  m.key = original.key;
  m.has_key = original.has_key;
  m.value = original.value;
  m.headers = &headers;
  m.timestamp_ms = original.timestamp_ms > 0 ? original.timestamp_ms : 0;
  CountRejection(reason);
  return producer_->Produce(m);
}

Status DeadLetterQueue::Send(std::string_view key, bool has_key, std::string_view value,
                             RejectReason reason, std::string_view detail) {
  KafkaHeaders headers = {{kRejectReasonHeader, RejectReasonName(reason)},
                          {kRejectDetailHeader, std::string(detail)}};
  ProduceMessage m;
  m.topic = topic_;
  m.key = key;
  m.has_key = has_key;
  m.value = value;
  m.headers = &headers;
  CountRejection(reason);
  return producer_->Produce(m);
}

}  // namespace streamrec
