#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace streamrec {

// One Kafka header (values are bytes; a null header value reads as "").
struct KafkaHeader {
  std::string key;
  std::string value;
  friend bool operator==(const KafkaHeader& a, const KafkaHeader& b) {
    return a.key == b.key && a.value == b.value;
  }
};
using KafkaHeaders = std::vector<KafkaHeader>;

// A consumed Kafka message, copied out of librdkafka so it outlives the poll that
// returned it. Value type; thread-compatible.
struct Record {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  std::string value;
  KafkaHeaders headers;
  int64_t timestamp_ms = -1;  // message timestamp (CreateTime/LogAppendTime), -1 if none
  bool has_key = false;       // false for a null key

  // The value of the first header named `key`, if any.
  std::optional<std::string_view> Header(std::string_view key) const {
    for (const auto& h : headers) {
      if (h.key == key) return std::string_view(h.value);
    }
    return std::nullopt;
  }
};

// A topic partition and, where it matters, an offset (the next offset to read, as in
// Kafka commits). Special offsets: kOffsetBeginning, kOffsetEnd, kOffsetStored.
struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1001;  // kOffsetStored

  friend bool operator==(const TopicPartitionOffset& a, const TopicPartitionOffset& b) {
    return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset;
  }
  friend bool operator<(const TopicPartitionOffset& a, const TopicPartitionOffset& b) {
    return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
  }
};

// librdkafka's logical offsets.
inline constexpr int64_t kOffsetBeginning = -2;
inline constexpr int64_t kOffsetEnd = -1;
// "Use the group's committed offset, else auto.offset.reset".
inline constexpr int64_t kOffsetStored = -1001;

}  // namespace streamrec
