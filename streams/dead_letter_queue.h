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
// Creates streamrec_events_rejected_total{reason} at 0 for every reason, so a clean run
// exports them (rate() of a series that does not exist has no data). Whatever validates
// input calls it at start-up (the user stage, DeadLetterQueue). Thread-safe, idempotent.
void RegisterRejectionCounters();

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
// Set only on a DLQ copy that had to be cut to fit (FitDeadLetter).
inline constexpr char kRejectOriginalBytesHeader[] = "streamrec.reject.original_bytes";
inline constexpr char kRejectDigestHeader[] = "streamrec.reject.digest";

// The most a DLQ copy may take (key + value + headers): under the default limits on a
// message of librdkafka's producer (message.max.bytes 1,000,000) and of Kafka brokers
// (1,048,588), with room for the record's own overhead.
inline constexpr size_t kDeadLetterMaxBytes = 960'000;

// Makes a rejected message fit the DLQ, so that no input, whatever its size, can fail the
// DLQ send and stop its partition (a crash loop on the same offset). What fits is kept
// as it is. Otherwise, in this order: original headers beyond 64 KiB are dropped; a key
// beyond 16 KiB is cut; the value is cut to what is left. When the value is cut, two
// headers are appended: kRejectOriginalBytesHeader (its size) and kRejectDigestHeader
// ("xxh3-64:" and 16 hex digits, of the whole original value), so the operator can tell
// which message it was. Call it after adding the reject headers. Returns true when
// anything was cut.
bool FitDeadLetter(std::string* key, std::string* value, KafkaHeaders* headers);

}  // namespace streamrec
