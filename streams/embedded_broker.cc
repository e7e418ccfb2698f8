#include "streams/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "streams/rdkafka_handles.h"
#include "streams/rdkafka_log.h"

namespace streamrec {
namespace {

struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* c) const { rd_kafka_mock_cluster_destroy(c); }
};

}  // namespace

struct EmbeddedBroker::Rep {
  // Declaration order matters: the cluster is destroyed before the handle it lives on.
  internal::RdKafkaHandle handle;
  std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter> cluster;
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(rep_->cluster.get());
}

EmbeddedBroker::~EmbeddedBroker() {
  rep_->cluster.reset();
  rep_->handle.reset();
}

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const EmbeddedBrokerOptions& options) {
  if (options.num_brokers < 1) return Status::InvalidArgument("embedded broker: num_brokers < 1");
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  internal::RouteRdKafkaLogs(conf);
  char errstr[512];
  // The handle only hosts the mock cluster; keep it quiet.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(std::string("embedded broker: ") + errstr);
  }
  auto rep = std::make_unique<Rep>();
  // rd_kafka_new takes ownership of conf on success only.
  rep->handle.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
  if (!rep->handle) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(std::string("embedded broker: ") + errstr);
  }
  rep->cluster.reset(rd_kafka_mock_cluster_new(rep->handle.get(), options.num_brokers));
  if (!rep->cluster) return Status::Unavailable("embedded broker: cannot start the mock cluster");
  std::unique_ptr<EmbeddedBroker> broker(new EmbeddedBroker(std::move(rep)));
  std::vector<TopicSpec> topics = options.topics;
  if (topics.empty()) topics = DefaultTopicSpecs(TopicNames(), options.default_partitions);
  for (const auto& t : topics) STREAMREC_RETURN_IF_ERROR(broker->CreateTopic(t.name, t.partitions));
  return broker;
}

Status EmbeddedBroker::CreateTopic(const std::string& name, int partitions) {
  if (partitions < 1) return Status::InvalidArgument("topic " + name + ": partitions < 1");
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(rep_->cluster.get(), name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Status::Internal("embedded broker: create topic " + name + ": " + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

Status EmbeddedBroker::SetBrokerDown(int broker_id) {
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(rep_->cluster.get(), broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument("embedded broker: broker " + std::to_string(broker_id) +
                                   " down: " + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

Status EmbeddedBroker::SetBrokerUp(int broker_id) {
  rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(rep_->cluster.get(), broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument("embedded broker: broker " + std::to_string(broker_id) +
                                   " up: " + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

}  // namespace streamrec
