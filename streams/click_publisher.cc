#include "streams/click_publisher.h"

namespace streamrec {

ClickPublisher::ClickPublisher(KafkaProducer* producer, ClickPublisherOptions options)
    : producer_(producer), options_(std::move(options)), dlq_(producer, options_.dlq_topic) {}

Status ClickPublisher::PublishJson(std::string_view json, ClickParseResult* result) {
  ClickParseResult local;
  ClickParseResult& r = result != nullptr ? *result : local;
  r = parser_.Parse(json);
  if (!r.ok()) {
    ++counts_.rejected;
    if (options_.strict) {
      CountRejection(r.reason);
      return Status::InvalidArgument(std::string(RejectReasonName(r.reason)) + ": " + r.detail);
    }
    return dlq_.Send(std::string_view(), false, json, r.reason, r.detail);
  }
  ProduceMessage m;
  m.topic = options_.clicks_topic;
  m.key = r.event.user_id;
  m.value = json;
  m.timestamp_ms = options_.use_event_time ? r.event.ts_ms : 0;
  STREAMREC_RETURN_IF_ERROR(producer_->Produce(m));
  ++counts_.accepted;
  return Status::Ok();
}

Status ClickPublisher::PublishEvent(const ClickEvent& event) {
  const std::string json = EncodeClickEvent(event);
  ProduceMessage m;
  m.topic = options_.clicks_topic;
  m.key = event.user_id;
  m.value = json;
  m.timestamp_ms = options_.use_event_time ? event.ts_ms : 0;
  STREAMREC_RETURN_IF_ERROR(producer_->Produce(m));
  ++counts_.accepted;
  return Status::Ok();
}

}  // namespace streamrec
