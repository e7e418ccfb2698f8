#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "streams/click_event.h"
#include "streams/history_reader.h"
#include "streams/topic_range_reader.h"

namespace streamrec::batch {

// Where a batch run's events came from, and where its history ends (the cutoff the
// manifest names and a speed layer re-bases to).
struct BatchSource {
  enum class Kind { kFile, kTopic };
  Kind kind = Kind::kFile;
  // kFile: the history file, its format and how many lines it had.
  std::string path;
  std::string format;
  int64_t lines = 0;
  // kTopic: the topic and, per partition, the offsets read: [start, end). `end` is the
  // cutoff: every record below it was read, none at or above it.
  std::string topic;
  std::vector<PartitionRange> partitions;
};

// The history of a batch run, in the order the batch layer applies it.
struct BatchInput {
  BatchSource source;
  // Valid events. From a file: stably sorted by time, as `streamrec replay` publishes
  // them. From a topic: each partition in offset order (the order the user stage applies
  // them), partitions merged by timestamp.
  std::vector<ClickEvent> events;
  int64_t records = 0;   // lines or records read
  int64_t rejected = 0;  // skipped bad lines, or records the user stage dead-letters
  std::map<std::string, int64_t> rejected_by_reason;  // RejectReasonName -> count (topic)
};

// Progress: records read so far of `total` (0 when unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;
// Polled between records; true stops the read with Unavailable("stopped").
using StopFn = std::function<bool()>;

// Reads a history file (streams/history_reader.h formats). With skip_bad, bad lines are
// counted and skipped; otherwise the first one is the error ("FILE:LINE: why").
Result<BatchInput> ReadFileInput(const std::string& path, const HistoryReaderOptions& options, bool skip_bad);

struct TopicInputOptions {
  // The topic and the cluster (brokers, properties); range.end_offsets is the cutoff
  // (empty: every partition's end offset when the read starts). The time range stays
  // at its default (everything): a batch view covers the whole log below the cutoff.
  TopicRangeReaderOptions range;
  // operators.max_future_ms: a record dated more than this ahead of the wall clock is
  // rejected, as the user stage rejects it (0: no check).
  int64_t max_future_ms = 86400000;
  // Wall clock of that check (default: the system clock).
  std::function<int64_t()> now_ms;
};

// Reads every record of a topic below the cutoff, validated as the user stage validates
// `clicks` (ClickEventParser, then the future-timestamp check): the records it would
// dead-letter are counted by reason and left out.
// The offsets consumer group `group` has committed on `topic`, one per partition in
// partition order (0 where it has none): the cutoff of `streamrec batch --cutoff-group`.
// The user stage commits its group offset after each commit of its state, so each such
// offset is a boundary of its output parts, where the item stage can merge a batch view
// exactly (operators/lambda.h).
Result<std::vector<int64_t>> GroupCommittedOffsets(const std::string& brokers, const KafkaProperties& properties,
                                                   const std::string& topic, const std::string& group,
                                                   int timeout_ms = 10000);

Result<BatchInput> ReadTopicInput(const TopicInputOptions& options, const StopFn& stop = {},
                                  const ProgressFn& progress = {});

// Merges per-partition event lists into one: each list's order is kept, and at every
// step the head with the smallest timestamp (then the lowest partition) goes next. Pure.
std::vector<ClickEvent> MergeByTime(std::vector<std::vector<ClickEvent>> partitions);

}  // namespace streamrec::batch
