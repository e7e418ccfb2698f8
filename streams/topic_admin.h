#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec {

struct TopicAdminOptions {
  std::string brokers;         // bootstrap.servers (overrides properties)
  KafkaProperties properties;  // librdkafka properties, verbatim (SASL/SSL...)
  int replication_factor = 1;
  int timeout_ms = 30000;  // for the whole request
};

// Outcome per topic of CreateTopics.
struct TopicCreateResult {
  std::string name;
  Status status;                 // OK when created
  bool already_existed = false;  // TOPIC_ALREADY_EXISTS counts as success
};

// Creates topics through the Kafka Admin API (CreateTopics), compacted ones with
// cleanup.policy=compact. For a real Kafka cluster; librdkafka's mock cluster (the
// embedded broker) does not answer CreateTopics, and the request times out. Returns one
// result per spec, or an error for the request as a whole. Thread-safe (no shared state).
Result<std::vector<TopicCreateResult>> CreateTopics(const TopicAdminOptions& options,
                                                    const std::vector<TopicSpec>& specs);

struct TopicInfo {
  std::string name;
  int partitions = 0;
};

// The cluster's topics (a metadata request), sorted by name; internal "__" topics left out.
Result<std::vector<TopicInfo>> ListTopics(const TopicAdminOptions& options);

}  // namespace streamrec
