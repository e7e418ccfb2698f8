#include "streams/kafka_properties.h"

namespace streamrec {

KafkaProperties KafkaPropertiesFromConfig(const Config& config) {
  return config.Flatten("kafka");
}

std::string ResolveBrokers(const Config& config, const std::string& brokers_flag) {
  if (!brokers_flag.empty()) return brokers_flag;
  const auto props = KafkaPropertiesFromConfig(config);
  auto it = props.find("bootstrap.servers");
  if (it != props.end()) return it->second;
  it = props.find("metadata.broker.list");
  if (it != props.end()) return it->second;
  return "";
}

}  // namespace streamrec
