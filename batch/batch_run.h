#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "batch/batch_input.h"
#include "batch/batch_manifest.h"
#include "core/config.h"
#include "core/status.h"

namespace streamrec::batch {

// The steps of a batch run from a topic that `streamrec batch` (apps/cmd_batch.cc) and
// the scheduled batch layer (batch_scheduler.h, in `streamrec run`) share: one
// implementation, so a scheduled version is what `streamrec batch --cutoff-group` writes.

// Where a topic's read ends: the given end offsets, else the offsets `group` committed on
// the topic (the user stage's, streamrec-user, for a view the item stage merges
// exactly), else each partition's end offset when the read starts.
struct TopicCutoff {
  std::vector<int64_t> end_offsets;
  std::string group;
};

// Reads `topic` below the cutoff, validated as the user stage validates it
// (ReadTopicInput); kafka.* properties from `config`. `progress` gets (records read,
// records in all).
Result<BatchInput> ReadTopicUpToCutoff(const Config& config, const std::string& brokers, const std::string& topic,
                                       const TopicCutoff& cutoff, int64_t max_future_ms, const StopFn& stop,
                                       const ProgressFn& progress = {});

// Announces a committed version on topics.batch_views ("streamrec.batch").
Status AnnounceBatchVersion(const Config& config, const std::string& brokers, const BatchManifest& manifest,
                            const StopFn& stop);

// Removes all but the newest `keep` complete versions under `root` (keep >= 1); returns
// the versions removed, oldest first.
Result<std::vector<int64_t>> PruneBatchVersions(const std::string& root, int keep);

}  // namespace streamrec::batch
