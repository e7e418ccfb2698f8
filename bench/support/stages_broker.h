#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "streams/embedded_broker.h"
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

}  // namespace streamrec::bench
