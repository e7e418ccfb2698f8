#include "runtime/table_reader.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

namespace streamrec::runtime {

TableReader::~TableReader() {
  if (consumer_) (void)consumer_->Close();
}

Result<std::unique_ptr<TableReader>> TableReader::Create(TableReaderOptions options) {
  if (options.topics.empty()) return Status::InvalidArgument("table reader: no topics");
  std::unique_ptr<TableReader> reader(new TableReader(std::move(options)));
  ConsumerOptions co;
  co.brokers = reader->options_.brokers;
  co.properties = reader->options_.properties;
  co.properties.emplace("fetch.wait.max.ms", std::to_string(reader->options_.fetch_wait_ms));
  co.stage = reader->options_.name;
  auto consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status().WithContext(reader->options_.name + " consumer");
  reader->consumer_ = std::move(consumer).value();
  return reader;
}

Status TableReader::Start(const std::function<bool()>& stop) {
  std::vector<TopicPartitionOffset> assignment;
  for (const std::string& topic : options_.topics) {
    int partitions = 0;
    for (;;) {
      Result<int> n = consumer_->PartitionCount(topic, options_.metadata_timeout_ms);
      if (n.ok() && *n > 0) {
        partitions = *n;
        break;
      }
      if (stop()) return Status::Unavailable("stopped while waiting for topic " + topic);
      spdlog::info("[{}] waiting for topic {}: {}", options_.name, topic,
                   n.ok() ? "no partitions" : n.status().ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (int32_t p = 0; p < partitions; ++p) {
      assignment.push_back({topic, p, kOffsetBeginning});
      auto marks = consumer_->QueryWatermarks(topic, p, options_.metadata_timeout_ms);
      // Just after a topic is created a real broker may answer "not leader" for a while,
      // until the partition's leader is elected: wait for it as for the topic above.
      while (!marks.ok()) {
        if (stop()) return marks.status().WithContext("end offset of " + topic);
        spdlog::info("[{}] waiting for the end offset of {}[{}]: {}", options_.name, topic, p,
                     marks.status().ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        marks = consumer_->QueryWatermarks(topic, p, options_.metadata_timeout_ms);
      }
      catch_up_.Expect(topic, p, kOffsetBeginning, marks->first, marks->second);
    }
  }
  STREAMREC_RETURN_IF_ERROR(consumer_->Assign(assignment).WithContext(options_.name + " assign"));
  started_ = true;
  catch_up_.Start();
  if (catch_up_.caught_up()) spdlog::info("[{}] tables empty: caught up", options_.name);
  return Status::Ok();
}

Result<size_t> TableReader::Poll(int timeout_ms, std::vector<Record>* out) {
  if (!started_) return Status::FailedPrecondition(options_.name + ": Poll before Start");
  const size_t before = out->size();
  auto got = consumer_->PollBatch(options_.max_poll_records, timeout_ms, out);
  if (!got.ok()) return got.status().WithContext(options_.name + " poll");
  const bool was_behind = !catch_up_.caught_up();
  catch_up_.OnRecords(*out, before);
  if (*got == 0 && !catch_up_.caught_up()) {
    // The last offsets may hold no record (compaction, control records): ask where the
    // consumer stands.
    std::vector<TopicPartitionOffset> tps = catch_up_.Behind();
    for (auto& tp : tps) tp.offset = kOffsetStored;
    auto positions = consumer_->Positions(tps);
    if (positions.ok()) {
      for (const auto& tp : *positions) catch_up_.OnPosition(tp.topic, tp.partition, tp.offset);
    }
  }
  records_read_ += static_cast<int64_t>(*got);
  if (was_behind && catch_up_.caught_up()) {
    spdlog::info("[{}] caught up ({} records)", options_.name, records_read_);
  }
  return got;
}

Status TableReader::ProbeBroker(int timeout_ms) {
  if (!consumer_) return Status::FailedPrecondition("table reader is closed");
  if (options_.topics.empty()) return Status::Ok();
  Result<int> n = consumer_->PartitionCount(options_.topics.front(), timeout_ms);
  return n.ok() ? Status::Ok() : n.status();
}

Status TableReader::Close() {
  if (!consumer_) return Status::Ok();
  Status st = consumer_->Close();
  consumer_.reset();
  return st;
}

}  // namespace streamrec::runtime
