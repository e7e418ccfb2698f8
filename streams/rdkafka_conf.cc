#include "streams/rdkafka_conf.h"

namespace streamrec::internal {

Result<std::unique_ptr<RdKafka::Conf>> BuildGlobalConf(const KafkaProperties& props) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [key, value] : props) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
      return Status::InvalidArgument("kafka property " + key + "=" + value + ": " + err);
    }
  }
  return conf;
}

void CopyMessage(const RdKafka::Message& msg, Record* out) {
  out->topic = msg.topic_name();
  out->partition = msg.partition();
  out->offset = msg.offset();
  if (msg.key_pointer() != nullptr) {
    out->key.assign(static_cast<const char*>(msg.key_pointer()), msg.key_len());
    out->has_key = true;
  } else {
    out->key.clear();
    out->has_key = false;
  }
  if (msg.payload() != nullptr) {
    out->value.assign(static_cast<const char*>(msg.payload()), msg.len());
  } else {
    out->value.clear();
  }
  const RdKafka::MessageTimestamp ts = msg.timestamp();
  out->timestamp_ms =
      ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? -1 : ts.timestamp;
  out->headers.clear();
  // headers() returns a view owned by the message (nullptr when there are none).
  RdKafka::Headers* headers = const_cast<RdKafka::Message&>(msg).headers();
  if (headers != nullptr) {
    for (const RdKafka::Headers::Header& h : headers->get_all()) {
      KafkaHeader kh;
      kh.key = h.key();
      if (h.value() != nullptr)
        kh.value.assign(static_cast<const char*>(h.value()), h.value_size());
      out->headers.push_back(std::move(kh));
    }
  }
}

std::string PartitionName(const std::string& topic, int32_t partition) {
  return topic + "[" + std::to_string(partition) + "]";
}

}  // namespace streamrec::internal
