#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"

namespace streamrec {

class KafkaConsumer;

struct TopicRangeReaderOptions {
  // bootstrap.servers (overrides properties["bootstrap.servers"] when non-empty).
  std::string brokers;
  // librdkafka properties passed verbatim.
  KafkaProperties properties;
  // The topic to read, every partition. Required.
  std::string topic;
  // The time range, ms since the epoch of the record timestamps: [start_ms, end_ms).
  // Defaults: everything.
  int64_t start_ms = 0;
  int64_t end_ms = std::numeric_limits<int64_t>::max();
  // Where each partition's scan ends (exclusive), by partition index: a cutoff given by
  // the caller (e.g. the offsets a batch run named). Empty (default): each partition's
  // high watermark when Open() runs. Otherwise one offset per partition of the topic; an
  // offset past the high watermark is InvalidArgument (those records do not exist yet).
  std::vector<int64_t> end_offsets;
  // Bound on each broker request of Open() (metadata, watermarks, offsets for times).
  int request_timeout_ms = 10000;
};

// A time bound as a user writes it: milliseconds since the epoch ("1732270000123"), or
// an ISO 8601 UTC date-time "2024-11-22T10:06:40Z" (seconds, optional ".mmm", a "Z" or
// "+00:00"), or a date "2024-11-22" (its midnight, UTC).
Result<int64_t> ParseTimeBound(std::string_view text);

// One partition's share of a range read: offsets [start, end) are scanned.
struct PartitionRange {
  int32_t partition = 0;
  int64_t start = 0;  // from the timestamp lookup, else the partition's first offset
  int64_t end = 0;    // the high watermark when the reader opened, or the given end offset
};

// Reads the records of a topic whose timestamps fall in a time range, as they are (key,
// value, headers, timestamp), each partition in offset order: a backfill's source. The
// end of each partition is its high watermark when Open() ran, so records produced later
// are not read and the read ends. Each partition starts at the broker's offset for
// start_ms (offsets for times) where the broker answers one, else at its first offset;
// either way every record is checked against the range, because timestamps need not
// grow with offsets (a producer may set them), so no record in range is missed and none
// outside it is returned. Threads: one owner thread.
class TopicRangeReader {
 public:
  using Options = TopicRangeReaderOptions;
  // Resolves the partitions and where each one's scan starts and ends. NotFound when
  // the topic does not exist; InvalidArgument for an empty range.
  static Result<std::unique_ptr<TopicRangeReader>> Open(Options options);
  ~TopicRangeReader();
  TopicRangeReader(const TopicRangeReader&) = delete;
  TopicRangeReader& operator=(const TopicRangeReader&) = delete;

  // Appends the next records in range to *out, waiting up to `timeout_ms` for the first
  // batch. Returns false once every partition is scanned to its end (nothing appended
  // then), true otherwise (possibly with nothing appended).
  Result<bool> Poll(int timeout_ms, std::vector<Record>* out);

  const std::vector<PartitionRange>& ranges() const { return ranges_; }
  // Records read (in range or not) and records returned so far.
  int64_t scanned() const { return scanned_; }
  int64_t matched() const { return matched_; }
  // Offsets the scan covers in all, and whether the broker's timestamp index shortened it
  // (false on librdkafka's mock cluster, which has none).
  int64_t total_offsets() const;
  bool used_time_index() const { return used_time_index_; }

 private:
  TopicRangeReader() = default;
  bool Done(size_t i) const { return next_[i] >= ranges_[i].end; }

  Options options_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::vector<PartitionRange> ranges_;  // index = partition
  std::vector<int64_t> next_;           // next offset to read per partition
  int64_t scanned_ = 0;
  int64_t matched_ = 0;
  bool used_time_index_ = false;
};

}  // namespace streamrec
