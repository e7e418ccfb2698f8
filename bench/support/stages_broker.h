#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/topics.h"

namespace streamrec::bench {

// The broker of one benchmark run of the stages: the embedded one, or this run's topics
// on a real cluster. Used from the benchmark's main thread.
struct StagesBroker {
  std::unique_ptr<EmbeddedBroker> embedded;  // null on a real cluster
  std::string brokers;                       // bootstrap servers
  TopicNames topics;                         // the stages' topics, suffixed on a real cluster
  std::string suffix;                        // of this run's topics and groups; "" embedded
};

// `brokers` empty: starts the embedded broker with the stages' topics (the two tables and
// the two changelogs compacted; the DLQ 1 partition, the others `partitions`). Otherwise
// creates those topics on the cluster (replication 1), each name + `suffix`, and waits
// until the cluster's metadata lists them all (up to 30 s).
Result<StagesBroker> StartStagesBroker(const std::string& brokers, int partitions, const std::string& suffix);

// The sums of a topic's low and high watermarks over partitions 0..partitions-1 (the low
// sum: records the broker dropped, for a topic nobody deletes from). Each query waits up
// to 5 s.
struct WatermarkSums {
  int64_t low = 0;
  int64_t high = 0;
};
Result<WatermarkSums> SumWatermarks(KafkaConsumer* consumer, const std::string& topic, int partitions);
// The high sum, the low one into `low_sum` when given; on an error prints it after
// `program` and exits 1 (a benchmark cannot go on without its counts).
int64_t SumHighWatermarksOrExit(KafkaConsumer* consumer, const std::string& topic, int partitions,
                                int64_t* low_sum, const char* program);

}  // namespace streamrec::bench
