#include "streams/topic_admin.h"

#include <algorithm>
#include <memory>

#include <librdkafka/rdkafka.h>

#include "streams/rdkafka_handles.h"
#include "streams/rdkafka_log.h"

namespace streamrec {
namespace {

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using Handle = internal::RdKafkaHandle;

Result<Handle> NewHandle(const TopicAdminOptions& options) {
  KafkaProperties props = options.properties;
  if (!options.brokers.empty()) props["bootstrap.servers"] = options.brokers;
  if (props.count("bootstrap.servers") == 0 && props.count("metadata.broker.list") == 0) {
    return Status::InvalidArgument("topics: no brokers (set --brokers or kafka.bootstrap.servers)");
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  internal::RouteRdKafkaLogs(conf);
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka property " + k + "=" + v + ": " + errstr);
    }
  }
  Handle rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("topics: ") + errstr);
  }
  return rk;
}

}  // namespace

Result<std::vector<TopicCreateResult>> CreateTopics(const TopicAdminOptions& options,
                                                    const std::vector<TopicSpec>& specs) {
  auto rk = NewHandle(options);
  if (!rk.ok()) return rk.status();
  char errstr[512];
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& spec : specs) {
    std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> t(rd_kafka_NewTopic_new(
        spec.name.c_str(), spec.partitions, options.replication_factor, errstr, sizeof(errstr)));
    if (!t) return Status::InvalidArgument("topic " + spec.name + ": " + errstr);
    if (spec.compacted) {
      rd_kafka_resp_err_t err = rd_kafka_NewTopic_set_config(t.get(), "cleanup.policy", "compact");
      if (err) return Status::Internal("topic " + spec.name + ": " + rd_kafka_err2str(err));
    }
    raw.push_back(t.get());
    owned.push_back(std::move(t));
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> admin_options(
      rd_kafka_AdminOptions_new(rk.value().get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_request_timeout(admin_options.get(), options.timeout_ms, errstr,
                                                sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_operation_timeout(admin_options.get(), options.timeout_ms, errstr,
                                                  sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("topics: ") + errstr);
  }
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk.value().get()));
  rd_kafka_CreateTopics(rk.value().get(), raw.data(), raw.size(), admin_options.get(), queue.get());
  // The request times out by itself; wait a little longer than that.
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(
      rd_kafka_queue_poll(queue.get(), options.timeout_ms + 5000));
  if (!event) return Status::Timeout("CreateTopics: no answer");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get());
    std::string msg = std::string("CreateTopics: ") + rd_kafka_event_error_string(event.get());
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      return Status::Timeout(msg +
                             " (librdkafka's mock cluster, the embedded broker, never answers "
                             "CreateTopics: it creates its own topics)");
    }
    return Status::Unavailable(msg);
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &n);
  std::vector<TopicCreateResult> out;
  for (size_t i = 0; i < n; ++i) {
    TopicCreateResult r;
    r.name = rd_kafka_topic_result_name(topics[i]);
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      r.already_existed = true;
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* s = rd_kafka_topic_result_error_string(topics[i]);
      r.status = Status::Unavailable("topic " + r.name + ": " + (s ? s : rd_kafka_err2str(err)));
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<TopicInfo>> ListTopics(const TopicAdminOptions& options) {
  auto rk = NewHandle(options);
  if (!rk.ok()) return rk.status();
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk.value().get(), 1, nullptr, &raw, options.timeout_ms);
  internal::MetadataHandle md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("metadata: ") + rd_kafka_err2str(err));
  }
  std::vector<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const std::string name = md->topics[i].topic;
    if (name.rfind("__", 0) == 0) continue;
    out.push_back({name, md->topics[i].partition_cnt});
  }
  std::sort(out.begin(), out.end(),
            [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return out;
}

}  // namespace streamrec
