#include "batch/batch_input.h"

#include <chrono>
#include <queue>
#include <tuple>

#include "streams/kafka_consumer.h"

namespace streamrec::batch {

Result<BatchInput> ReadFileInput(const std::string& path, const HistoryReaderOptions& options, bool skip_bad) {
  BatchInput in;
  HistoryReadStats stats;
  auto events = ReadHistoryFile(path, options, skip_bad, /*sort_by_time=*/true, &stats);
  if (!events.ok()) return events.status();
  in.events = std::move(events).value();
  in.source.kind = BatchSource::Kind::kFile;
  in.source.path = path;
  in.source.format = HistoryFormatName(options.format);
  in.source.lines = stats.lines;
  in.records = stats.events + stats.skipped;
  in.rejected = stats.skipped;
  return in;
}

std::vector<ClickEvent> MergeByTime(std::vector<std::vector<ClickEvent>> partitions) {
  size_t total = 0;
  for (const auto& p : partitions) total += p.size();
  std::vector<ClickEvent> out;
  out.reserve(total);
  using Head = std::tuple<int64_t, size_t, size_t>;  // (ts, partition, index)
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  for (size_t p = 0; p < partitions.size(); ++p) {
    if (!partitions[p].empty()) heads.emplace(partitions[p][0].ts_ms, p, 0);
  }
  while (!heads.empty()) {
    auto [ts, p, i] = heads.top();
    heads.pop();
    out.push_back(std::move(partitions[p][i]));
    if (i + 1 < partitions[p].size()) heads.emplace(partitions[p][i + 1].ts_ms, p, i + 1);
  }
  return out;
}

Result<BatchInput> ReadTopicInput(const TopicInputOptions& options, const StopFn& stop,
                                  const ProgressFn& progress) {
  auto reader = TopicRangeReader::Open(options.range);
  if (!reader.ok()) return reader.status();
  BatchInput in;
  in.source.kind = BatchSource::Kind::kTopic;
  in.source.topic = options.range.topic;
  in.source.partitions = (*reader)->ranges();
  const int64_t total = (*reader)->total_offsets();
  std::vector<std::vector<ClickEvent>> per_partition(in.source.partitions.size());
  auto now_ms = options.now_ms ? options.now_ms : [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  ClickEventParser parser;
  std::vector<Record> batch;
  while (true) {
    if (stop && stop()) return Status::Unavailable("stopped");
    batch.clear();
    Result<bool> more = (*reader)->Poll(200, &batch);
    if (!more.ok()) return more.status();
    if (!*more) break;
    for (const Record& r : batch) {
      ++in.records;
      ClickParseResult parsed = parser.Parse(r.value);
      if (parsed.ok()) {
        std::string detail;
        if (CheckNotAhead(parsed.event.ts_ms, now_ms(), options.max_future_ms, &detail) != RejectReason::kNone) {
          parsed.reason = RejectReason::kBadTimestamp;
        }
      }
      if (!parsed.ok()) {
        ++in.rejected;
        ++in.rejected_by_reason[RejectReasonName(parsed.reason)];
        continue;
      }
      per_partition[static_cast<size_t>(r.partition)].push_back(std::move(parsed.event));
    }
    if (progress) progress((*reader)->scanned(), total);
  }
  if (progress) progress((*reader)->scanned(), total);
  in.events = MergeByTime(std::move(per_partition));
  return in;
}

Result<std::vector<int64_t>> GroupCommittedOffsets(const std::string& brokers, const KafkaProperties& properties,
                                                   const std::string& topic, const std::string& group,
                                                   int timeout_ms) {
  ConsumerOptions co;
  co.brokers = brokers;
  co.properties = properties;
  co.group_id = group;  // never subscribes nor commits: only reads the group's offsets
  auto consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  auto partitions = (*consumer)->PartitionCount(topic, timeout_ms);
  if (!partitions.ok()) return partitions.status();
  std::vector<TopicPartitionOffset> asked;
  for (int p = 0; p < *partitions; ++p) asked.push_back({topic, p, kOffsetStored});
  auto committed = (*consumer)->Committed(asked, timeout_ms);
  if (!committed.ok()) return committed.status().WithContext("offsets of group " + group);
  std::vector<int64_t> out(static_cast<size_t>(*partitions), 0);
  for (const auto& c : *committed) {
    if (c.partition >= 0 && c.partition < *partitions && c.offset >= 0) out[static_cast<size_t>(c.partition)] = c.offset;
  }
  STREAMREC_RETURN_IF_ERROR((*consumer)->Close(timeout_ms));
  return out;
}

}  // namespace streamrec::batch
