#include "stages/topology_stage.h"

#include <chrono>
#include <thread>

#include "stages/stage_state.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::stages {

Result<int> DiscoverPartitions(const Config& config, const std::string& brokers,
                               const std::string& topic, const std::function<bool()>& stop) {
  ConsumerOptions co;
  co.brokers = brokers;
  co.properties = KafkaPropertiesFromConfig(config);
  auto consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  // Short requests and short sleeps, so a stop request is answered within a second.
  Status last = Status::Timeout("no answer");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(stop && stop()) && std::chrono::steady_clock::now() < deadline) {
    auto n = (*consumer)->PartitionCount(topic, 1000);
    if (n.ok() && *n > 0) return *n;
    last = n.ok() ? Status::NotFound(topic + " has no partitions") : n.status();
    for (int i = 0; i < 5 && !(stop && stop()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (stop && stop()) return Status::Unavailable("stopped while waiting for " + topic);
  return last.WithContext("partitions of " + topic);
}

Result<runtime::StageRunnerOptions> TopologyRunnerOptions(const Config& config,
                                                            const std::string& brokers,
                                                            const std::string& stage,
                                                            const std::string& group,
                                                            const std::string& state_dir,
                                                            int64_t commit_interval_ms) {
  runtime::StageRunnerOptions ro;
  ro.brokers = brokers;
  ro.properties = KafkaPropertiesFromConfig(config);
  ro.group_id = group.empty() ? "streamrec-" + stage : group;
  ro.state_dir = state_dir;
  ro.commit_interval_ms = commit_interval_ms;
  ro.start_over_hint = StartOverHint(stage, state_dir, "");
  auto strategy = config.GetString("operators.assignment_strategy", ro.assignment_strategy);
  if (!strategy.ok()) return strategy.status();
  ro.assignment_strategy = *strategy;
  // The changelog of the stage's stores (runtime/README.md, "Changelog"): off unless
  // `changelog.enabled: true` (it costs ingest throughput: bench/RESULTS.md, "Changelog");
  // its topic is topics.user_changelog / topics.item_changelog.
  auto changelog = config.GetBool("changelog.enabled", false);
  if (!changelog.ok()) return changelog.status();
  ro.changelog = *changelog;
  auto names = TopicNames::FromConfig(config);
  if (!names.ok()) return names.status();
  if (stage == "user") ro.changelog_topic = names->user_changelog;
  if (stage == "item") ro.changelog_topic = names->item_changelog;
  return ro;
}

}  // namespace streamrec::stages
