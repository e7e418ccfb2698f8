#include "batch/batch_run.h"

#include <utility>

#include "batch/batch_announcement.h"
#include "core/file_system.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::batch {

Result<BatchInput> ReadTopicUpToCutoff(const Config& config, const std::string& brokers,
                                              const std::string& topic, const TopicCutoff& cutoff,
                                              int64_t max_future_ms, const StopFn& stop,
                                              const ProgressFn& progress) {
  TopicInputOptions to;
  to.range.topic = topic;
  to.range.properties = KafkaPropertiesFromConfig(config);
  to.range.brokers = brokers;
  to.max_future_ms = max_future_ms;
  to.range.end_offsets = cutoff.end_offsets;
  if (cutoff.end_offsets.empty() && !cutoff.group.empty()) {
    auto committed = GroupCommittedOffsets(brokers, to.range.properties, topic, cutoff.group);
    if (!committed.ok()) return committed.status().WithContext("the offsets of group " + cutoff.group);
    to.range.end_offsets = *committed;
  }
  return ReadTopicInput(to, stop, progress);
}

Status AnnounceBatchVersion(const Config& config, const std::string& brokers, const BatchManifest& manifest,
                            const StopFn& stop) {
  auto names = TopicNames::FromConfig(config);
  if (!names.ok()) return names.status();
  auto a = BatchAnnouncement::FromManifest(manifest);
  if (!a.ok()) return a.status();
  ProducerOptions po;
  po.brokers = brokers;
  po.properties = KafkaPropertiesFromConfig(config);
  po.stop = stop;
  return Announce(*a, names->batch_views, po);
}

Result<std::vector<int64_t>> PruneBatchVersions(const std::string& root, int keep) {
  if (keep < 1) return Status::InvalidArgument("keep at least one batch version");
  std::vector<int64_t> versions = ListVersions(root);
  std::vector<int64_t> removed;
  if (versions.size() <= static_cast<size_t>(keep)) return removed;
  versions.resize(versions.size() - static_cast<size_t>(keep));  // ascending: the oldest
  for (int64_t v : versions) {
    STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(root + "/" + VersionDirName(v)));
    removed.push_back(v);
  }
  return removed;
}

}  // namespace streamrec::batch
