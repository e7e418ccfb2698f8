#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "streams/kafka_properties.h"

namespace streamrec {

struct BrokerCheckOptions {
  // bootstrap.servers; overrides properties["bootstrap.servers"] when non-empty.
  std::string brokers;
  // librdkafka properties, verbatim (SASL/SSL must match what the real clients use).
  KafkaProperties properties;
  // How long to keep trying before giving up. Default 10 s: long enough for a broker
  // that is just starting or a slow DNS, short enough that a command with no Kafka
  // fails visibly (issue 14: within 15 s).
  int timeout_ms = 10000;
  // Asked every `slice_ms`; true gives up at once (the process is stopping). May be empty.
  std::function<bool()> stop;
  int slice_ms = 200;
  // Called once, after `notice_after_ms` without an answer, so a command can say what it
  // waits for instead of looking hung. May be empty.
  std::function<void()> on_slow;
  int notice_after_ms = 1000;
};

// The bootstrap servers of a property set, one entry per comma-separated address, as
// given ("host:port", or with a "PLAINTEXT://" prefix).
std::vector<std::string> BootstrapServerList(const std::string& servers);

// Waits until some broker of the cluster answers a metadata request (a connection,
// authentication if configured, and one round trip), at most options.timeout_ms.
// Unavailable otherwise, naming the addresses tried and librdkafka's last error:
//   "cannot reach Kafka at 127.0.0.1:1 within 10 s (tried: 127.0.0.1:1; last error:
//    ... Connection refused)"
// or, when options.stop turned true first, Unavailable("stopped while waiting for ...").
// Every command that talks to Kafka runs this before its work (apps/), so a missing
// cluster is an error at start and not a silent wait. Thread-safe (no shared state).
Status WaitForBrokers(const BrokerCheckOptions& options);

}  // namespace streamrec
