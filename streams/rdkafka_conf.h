#pragma once

// Private to streams/: builds librdkafka configuration objects. Other folders use the
// Options structs of kafka_producer.h / kafka_consumer.h instead.

#include <memory>
#include <string>

#include <librdkafka/rdkafkacpp.h>

#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"

namespace streamrec::internal {

// A global RdKafka::Conf with every property set; the first rejected property is an
// error naming it.
Result<std::unique_ptr<RdKafka::Conf>> BuildGlobalConf(const KafkaProperties& props);

// Copies a librdkafka message into a Record.
void CopyMessage(const RdKafka::Message& msg, Record* out);

// "topic[partition]".
std::string PartitionName(const std::string& topic, int32_t partition);

}  // namespace streamrec::internal
