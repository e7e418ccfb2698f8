#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "streams/click_event.h"
#include "streams/dead_letter_queue.h"
#include "streams/kafka_producer.h"
#include "streams/topics.h"

namespace streamrec {

struct ClickPublisherOptions {
  std::string clicks_topic = kClicksTopic;
  std::string dlq_topic = kClicksDlqTopic;
  // Strict: a rejected message is not sent anywhere; PublishJson returns InvalidArgument.
  // Otherwise (default) it goes to the DLQ and counts as rejected.
  bool strict = false;
  // Produce accepted events with their event time as the Kafka timestamp (replay);
  // otherwise the broker/producer time.
  bool use_event_time = false;
};

// What a ClickPublisher did so far.
struct PublishCounts {
  int64_t accepted = 0;  // handed to the producer for the clicks topic
  int64_t rejected = 0;  // failed validation (sent to the DLQ unless strict)
};

// Validates and publishes click events to `clicks`, keyed by user id (so a user's events
// stay in order on one partition), routing rejected input to the DLQ unchanged.
// Thread-compatible: one per producing thread (it owns a ClickEventParser).
class ClickPublisher {
 public:
  // `producer` is not owned and must outlive this object.
  ClickPublisher(KafkaProducer* producer, ClickPublisherOptions options);

  // Publishes a raw JSON message exactly as given (the bytes on `clicks` are `json`).
  // `*result` (optional) receives the parse outcome.
  Status PublishJson(std::string_view json, ClickParseResult* result = nullptr);
  // Publishes an already valid event as canonical JSON (EncodeClickEvent).
  Status PublishEvent(const ClickEvent& event);

  const PublishCounts& counts() const { return counts_; }

 private:
  KafkaProducer* producer_;
  ClickPublisherOptions options_;
  ClickEventParser parser_;
  DeadLetterQueue dlq_;
  PublishCounts counts_;
};

}  // namespace streamrec
