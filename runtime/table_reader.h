#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "runtime/catch_up.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"

namespace streamrec::runtime {

struct TableReaderOptions {
  // bootstrap.servers and librdkafka properties (passed through).
  std::string brokers;
  KafkaProperties properties;
  // The table topics to read whole (e.g. items, streamrec.item-stats).
  std::vector<std::string> topics;
  // Label of the consumer metrics and of log lines, e.g. "trainer-tables".
  std::string name = "tables";
  // fetch.wait.max.ms unless `properties` sets it: table updates feed freshness, so do
  // not sit on librdkafka's 500 ms default. Default 50.
  int fetch_wait_ms = 50;
  // Metadata and watermark requests. Default 5000 ms.
  int metadata_timeout_ms = 5000;
  // Records taken per Poll. Default 1000.
  size_t max_poll_records = 1000;
};

// Reads table topics (keyed, latest value per key wins) whole, the way every stage needs
// its global tables: no consumer group, every partition of every topic assigned from the
// beginning; the end offsets seen at Start() are the "caught up" line, after which the
// reader keeps following new records. One thread (the owning stage's) uses it.
class TableReader {
 public:
  static Result<std::unique_ptr<TableReader>> Create(TableReaderOptions options);
  ~TableReader();

  // Waits until every topic exists (until `stop` returns true: Unavailable), assigns all
  // partitions from the beginning and records their end offsets.
  Status Start(const std::function<bool()>& stop);
  // Appends up to max_poll_records records to *out, waiting at most `timeout_ms` for the
  // first. An error is fatal for the reader (transient client errors are retried inside).
  Result<size_t> Poll(int timeout_ms, std::vector<Record>* out);
  // True once every partition was read up to the end offset it had at Start().
  bool caught_up() const { return catch_up_.caught_up(); }
  // OK once caught_up(), else Unavailable naming the partitions still behind.
  // Thread-safe (for a /readyz worker).
  Status Readiness() const { return catch_up_.Readiness(); }
  // Records read so far.
  int64_t records_read() const { return records_read_; }
  // Asks the broker for the first topic's metadata, waiting at most `timeout_ms`: OK when
  // a broker answered. For readiness reporting (serving's /readyz says whether Kafka is
  // reachable); an idle reader alone cannot tell an outage from no new records.
  Status ProbeBroker(int timeout_ms);
  Status Close();

 private:
  explicit TableReader(TableReaderOptions options)
      : options_(std::move(options)), catch_up_(options_.name) {}

  TableReaderOptions options_;
  std::unique_ptr<KafkaConsumer> consumer_;
  // The end offsets (exclusive) seen at Start() still to reach before caught_up().
  CatchUpTracker catch_up_;
  bool started_ = false;
  int64_t records_read_ = 0;
};

}  // namespace streamrec::runtime
