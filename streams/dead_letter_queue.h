#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "streams/click_event.h"
#include "streams/kafka_producer.h"
#include "streams/record.h"

namespace streamrec {

// Increments streamrec_events_rejected_total{reason}. Thread-safe.
void CountRejection(RejectReason reason);

// Routes rejected input to the dead-letter topic (`clicks.dlq` by default): the original
// key and value bytes unchanged, the original headers kept, plus
//   streamrec.reject.reason  RejectReasonName(reason)
//   streamrec.reject.detail  the parser's detail
//   streamrec.source         "topic[partition]@offset" when the input came from Kafka
// Each Send counts the rejection. Thread-compatible (the producer itself is thread-safe).
class DeadLetterQueue {
 public:
  // `producer` is not owned and must outlive this object.
  DeadLetterQueue(KafkaProducer* producer, std::string topic);

  // A message consumed from Kafka.
  Status Send(const Record& original, RejectReason reason, std::string_view detail);
  // Raw input (a line from a file or stdin, an HTTP body); `has_key=false` for none.
  Status Send(std::string_view key, bool has_key, std::string_view value, RejectReason reason,
              std::string_view detail);

  const std::string& topic() const { return topic_; }

 private:
  KafkaProducer* producer_;
  std::string topic_;
};

// The source header name, next to kRejectReasonHeader / kRejectDetailHeader.
inline constexpr char kRejectSourceHeader[] = "streamrec.source";

}  // namespace streamrec
