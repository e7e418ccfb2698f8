#include "bench/support/stages_broker.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "streams/topic_admin.h"

namespace streamrec::bench {

Result<StagesBroker> StartStagesBroker(const std::string& brokers, int partitions, const std::string& suffix) {
  StagesBroker b;
  TopicNames& t = b.topics;
  if (!brokers.empty()) {
    b.suffix = suffix;
    for (std::string* name : {&t.clicks, &t.clicks_dlq, &t.cooc_deltas, &t.training_examples, &t.item_neighbors,
                              &t.item_stats, &t.user_changelog, &t.item_changelog}) {
      *name += b.suffix;
    }
  }
  const int p = partitions;
  const std::vector<TopicSpec> specs = {
      {t.clicks, p},          {t.clicks_dlq, 1},        {t.cooc_deltas, p},          {t.training_examples, p},
      {t.item_neighbors, p, true}, {t.item_stats, p, true}, {t.user_changelog, p, true}, {t.item_changelog, p, true}};
  if (brokers.empty()) {
    EmbeddedBrokerOptions bo;
    bo.topics = specs;
    auto e = EmbeddedBroker::Start(bo);
    if (!e.ok()) return e.status().WithContext("embedded broker");
    b.embedded = std::move(e).value();
    b.brokers = b.embedded->bootstrap_servers();
    return b;
  }
  b.brokers = brokers;
  TopicAdminOptions ao;
  ao.brokers = brokers;
  ao.replication_factor = 1;
  auto created = CreateTopics(ao, specs);
  if (!created.ok()) return created.status().WithContext("creating topics");
  for (const auto& c : *created) {
    if (!c.status.ok()) return c.status.WithContext("creating " + c.name);
  }
  // The cluster's metadata knows a new topic a moment after CreateTopics answers.
  for (int i = 0; i < 300; ++i) {
    auto listed = ListTopics(ao);
    size_t found = 0;
    if (listed.ok()) {
      for (const auto& info : *listed) {
        for (const auto& spec : specs) found += info.name == spec.name ? 1 : 0;
      }
    }
    if (found == specs.size()) return b;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Timeout("the new topics did not appear in the metadata within 30 s");
}

Result<WatermarkSums> SumWatermarks(KafkaConsumer* consumer, const std::string& topic, int partitions) {
  WatermarkSums sums;
  for (int p = 0; p < partitions; ++p) {
    auto marks = consumer->QueryWatermarks(topic, p, 5000);
    if (!marks.ok()) return marks.status().WithContext("watermarks of " + topic);
    sums.low += marks->first;
    sums.high += marks->second;
  }
  return sums;
}

int64_t SumHighWatermarksOrExit(KafkaConsumer* consumer, const std::string& topic, int partitions,
                                int64_t* low_sum, const char* program) {
  auto sums = SumWatermarks(consumer, topic, partitions);
  if (!sums.ok()) {
    std::fprintf(stderr, "%s: %s\n", program, sums.status().ToString().c_str());
    std::exit(1);
  }
  if (low_sum != nullptr) *low_sum = sums->low;
  return sums->high;
}

}  // namespace streamrec::bench
