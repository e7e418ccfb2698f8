#include "streams/topic_range_reader.h"

#include <algorithm>
#include <cstdio>

#include "streams/kafka_consumer.h"
#include "streams/topic_admin.h"

namespace streamrec {

Result<int64_t> ParseTimeBound(std::string_view text) {
  const std::string t(text);
  auto bad = [&t](const std::string& why) {
    return Status::InvalidArgument("time '" + t + "': " + why +
                                   " (ms since the epoch, 2024-11-22T10:06:40Z or 2024-11-22)");
  };
  if (t.empty()) return bad("empty");
  if (t.find_first_not_of("0123456789") == std::string::npos) {
    if (t.size() > 15) return bad("too large");
    return static_cast<int64_t>(std::stoll(t));
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 ||
      consumed != 10) {
    return bad("not a date");
  }
  int64_t millis = 0;
  std::string_view rest = std::string_view(t).substr(10);
  if (!rest.empty()) {
    int used = 0;
    const std::string tail(rest);
    if (std::sscanf(tail.c_str(), "T%2d:%2d:%2d%n", &hour, &minute, &second, &used) != 3 ||
        used != 9) {
      return bad("not a time of day after the date");
    }
    rest.remove_prefix(9);
    if (!rest.empty() && rest.front() == '.') {
      rest.remove_prefix(1);
      int digits = 0;
      while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
        if (digits < 3) millis = millis * 10 + (rest.front() - '0');
        ++digits;
        rest.remove_prefix(1);
      }
      if (digits == 0) return bad("no digits after '.'");
      for (; digits < 3; ++digits) millis *= 10;
    }
    if (rest != "Z" && rest != "+00:00") return bad("give the time in UTC (end it with Z)");
  }
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return bad("out of range");
  }
  // Days from the civil date (proleptic Gregorian), as in H. Hinnant's algorithm.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60'000 + static_cast<int64_t>(second) * 1000 + millis;
}

Result<std::unique_ptr<TopicRangeReader>> TopicRangeReader::Open(Options options) {
  if (options.topic.empty()) return Status::InvalidArgument("no topic to read");
  if (options.start_ms < 0) return Status::InvalidArgument("the range's start is before 1970");
  if (options.end_ms <= options.start_ms) {
    return Status::InvalidArgument("empty time range: the end (" + std::to_string(options.end_ms) +
                                   ") is not after the start (" +
                                   std::to_string(options.start_ms) + ")");
  }
  // Listed first: a metadata request naming a missing topic would have a broker with
  // auto.create.topics.enable (Kafka's default, and the mock's) create it empty.
  TopicAdminOptions ao;
  ao.brokers = options.brokers;
  ao.properties = options.properties;
  ao.timeout_ms = options.request_timeout_ms;
  Result<std::vector<TopicInfo>> topics = ListTopics(ao);
  if (!topics.ok()) return topics.status();
  int partitions = -1;
  for (const TopicInfo& t : *topics) {
    if (t.name == options.topic) partitions = t.partitions;
  }
  if (partitions < 0) return Status::NotFound("topic " + options.topic + " does not exist");
  std::unique_ptr<TopicRangeReader> reader(new TopicRangeReader());
  reader->options_ = std::move(options);
  const Options& o = reader->options_;
  ConsumerOptions co;
  co.brokers = o.brokers;
  co.properties = o.properties;
  co.lag_refresh_ms = 0;  // a tool: no lag metrics
  Result<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  reader->consumer_ = std::move(consumer).value();
  KafkaConsumer& c = *reader->consumer_;

  if (!o.end_offsets.empty() && static_cast<int>(o.end_offsets.size()) != partitions) {
    return Status::InvalidArgument(std::to_string(o.end_offsets.size()) + " end offsets given for " + o.topic +
                                   ", which has " + std::to_string(partitions) + " partitions");
  }
  std::vector<TopicPartitionOffset> lookups;
  for (int32_t p = 0; p < partitions; ++p) {
    Result<std::pair<int64_t, int64_t>> marks = c.QueryWatermarks(o.topic, p, o.request_timeout_ms);
    if (!marks.ok()) return marks.status();
    int64_t end = marks->second;
    if (!o.end_offsets.empty()) {
      const int64_t given = o.end_offsets[static_cast<size_t>(p)];
      if (given < 0 || given > marks->second) {
        return Status::InvalidArgument("end offset " + std::to_string(given) + " of " + o.topic + "/" +
                                       std::to_string(p) + " is not in [0, " + std::to_string(marks->second) +
                                       "] (the partition's end offset)");
      }
      end = given;
    }
    reader->ranges_.push_back({p, std::min(marks->first, end), end});
    lookups.push_back({o.topic, p, o.start_ms});
  }
  if (o.start_ms > 0 && !lookups.empty()) {
    Result<std::vector<TopicPartitionOffset>> found = c.OffsetsForTimes(lookups, o.request_timeout_ms);
    if (!found.ok()) return found.status().WithContext(o.topic);
    for (const TopicPartitionOffset& f : *found) {
      PartitionRange& r = reader->ranges_[static_cast<size_t>(f.partition)];
      // kOffsetEnd means "no record at or after start_ms" from a broker with a time
      // index, but also every answer of one without (the mock): scan it all then.
      if (f.offset >= r.start && f.offset <= r.end) {
        reader->used_time_index_ = reader->used_time_index_ || f.offset > r.start;
        r.start = f.offset;
      }
    }
  }
  std::vector<TopicPartitionOffset> assignment;
  for (const PartitionRange& r : reader->ranges_) {
    reader->next_.push_back(r.start);
    if (r.start < r.end) assignment.push_back({o.topic, r.partition, r.start});
  }
  if (!assignment.empty()) {
    Status st = c.Assign(assignment);
    if (!st.ok()) return st;
  }
  return reader;
}

TopicRangeReader::~TopicRangeReader() {
  if (consumer_ != nullptr) (void)consumer_->Close();
}

int64_t TopicRangeReader::total_offsets() const {
  int64_t total = 0;
  for (const PartitionRange& r : ranges_) total += std::max<int64_t>(0, r.end - r.start);
  return total;
}

Result<bool> TopicRangeReader::Poll(int timeout_ms, std::vector<Record>* out) {
  bool all_done = true;
  for (size_t i = 0; i < ranges_.size(); ++i) all_done = all_done && Done(i);
  if (all_done) return false;
  std::vector<Record> batch;
  Result<size_t> got = consumer_->PollBatch(4096, timeout_ms, &batch);
  if (!got.ok()) return got.status();
  for (Record& r : batch) {
    const size_t i = static_cast<size_t>(r.partition);
    if (i >= ranges_.size() || r.offset >= ranges_[i].end) continue;  // produced after Open()
    next_[i] = std::max(next_[i], r.offset + 1);
    ++scanned_;
    if (r.timestamp_ms < options_.start_ms || r.timestamp_ms >= options_.end_ms) continue;
    ++matched_;
    out->push_back(std::move(r));
  }
  if (batch.empty()) {
    // Offsets a consumer never sees (transaction markers, compacted records) can end a
    // partition: its position tells.
    std::vector<TopicPartitionOffset> open;
    for (size_t i = 0; i < ranges_.size(); ++i) {
      if (!Done(i)) open.push_back({options_.topic, ranges_[i].partition, kOffsetStored});
    }
    Result<std::vector<TopicPartitionOffset>> positions = consumer_->Positions(open);
    if (positions.ok()) {
      for (const TopicPartitionOffset& p : *positions) {
        int64_t& next = next_[static_cast<size_t>(p.partition)];
        if (p.offset >= 0) next = std::max(next, p.offset);
      }
    }
  }
  return true;
}

}  // namespace streamrec
