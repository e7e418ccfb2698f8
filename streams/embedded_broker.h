#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "streams/topics.h"

namespace streamrec {

struct EmbeddedBrokerOptions {
  // Brokers in the mock cluster (ids 1..n), each listening on its own loopback port.
  int num_brokers = 1;
  // Topics created at start. Default (empty): DefaultTopicSpecs(TopicNames(),
  // default_partitions).
  std::vector<TopicSpec> topics;
  // Partitions of the default topics when `topics` is empty.
  int default_partitions = 4;
};

// librdkafka's mock cluster (rdkafka_mock.h): a real Kafka-protocol server on loopback
// that any client (ours, kcat, kafka-python) can use. In memory only; it keeps about the
// newest 5 MB per partition (see streams/README.md) and answers no CreateTopics request,
// so topics are created here. The mock cluster runs on its own librdkafka thread; the
// methods of this class are thread-safe. Destroying it stops the brokers.
class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>> Start(const EmbeddedBrokerOptions& options);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,...]": the bootstrap.servers for clients.
  const std::string& bootstrap_servers() const { return bootstrap_; }

  // Creates a topic (replication factor 1). Creating an existing topic is not an error
  // (the mock keeps the existing partitions).
  Status CreateTopic(const std::string& name, int partitions);

  // Takes broker `broker_id` (1..num_brokers, -1 = all) down: its connections are closed and new
  // ones refused until SetBrokerUp (an outage, for tests). Its data is kept.
  Status SetBrokerDown(int broker_id);
  Status SetBrokerUp(int broker_id);

 private:
  struct Rep;
  explicit EmbeddedBroker(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
  std::string bootstrap_;
};

}  // namespace streamrec
