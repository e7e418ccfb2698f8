#pragma once

#include <memory>

#include <librdkafka/rdkafka.h>

namespace streamrec::internal {

// Owning handles of librdkafka's C API objects (topic admin, broker check, embedded
// broker): destroyed with the matching rd_kafka_*_destroy. Include only in streams/*.cc.
struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using RdKafkaHandle = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using MetadataHandle = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

}  // namespace streamrec::internal
