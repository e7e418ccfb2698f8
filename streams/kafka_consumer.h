#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "streams/kafka_properties.h"
#include "streams/record.h"

namespace streamrec {

class KafkaConsumer;

// Hooks a stage implements to follow its partition assignment (Kafka's
// ConsumerRebalanceListener). Called on the thread that calls KafkaConsumer::Poll*,
// Close() or the destructor, from inside librdkafka's rebalance callback; the consumer
// may be used from them (e.g. CommitSync in OnPartitionsRevoked). Must not throw: an
// exception is caught, logged, and returned by the next Poll as an Internal error.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;

  // `partitions` were just assigned: all of them under the EAGER protocol, only the added
  // ones under COOPERATIVE. Each entry's offset is kOffsetStored (the group's committed
  // offset, else auto.offset.reset); set it to start elsewhere, e.g. from the offset a
  // stage stored beside its state. Entries may not be added or removed.
  virtual void OnPartitionsAssigned(KafkaConsumer* consumer,
                                    std::vector<TopicPartitionOffset>* partitions) = 0;

  // `partitions` are about to be taken away (all under EAGER, the removed ones under
  // COOPERATIVE); offsets are the current positions (next offset to read, or
  // kOffsetStored if nothing was consumed). Flush state and commit here.
  virtual void OnPartitionsRevoked(KafkaConsumer* consumer,
                                   const std::vector<TopicPartitionOffset>& partitions) = 0;

  // `partitions` were lost without a clean hand-over (session timeout, fencing): another
  // member may own them already, so do not commit. Default: nothing.
  virtual void OnPartitionsLost(KafkaConsumer* consumer,
                                const std::vector<TopicPartitionOffset>& partitions) {
    (void)consumer;
    (void)partitions;
  }
};

struct ConsumerOptions {
  // bootstrap.servers; overrides properties["bootstrap.servers"] when non-empty.
  std::string brokers;
  // librdkafka properties passed verbatim (from `kafka:` in the config); applied after
  // the defaults below. enable.auto.commit is always forced to false.
  KafkaProperties properties;
  // group.id. Required by Subscribe(); when empty a private "streamrec-tool-<pid>-<n>"
  // group is used so that Assign() works for tools (which never commit).
  std::string group_id;
  // Label `stage` of the consumer metrics (default: the group id).
  std::string stage;
  // auto.offset.reset for partitions without a committed or stage-stored offset.
  std::string auto_offset_reset = "earliest";
  // partition.assignment.strategy: "cooperative-sticky" (incremental, COOPERATIVE
  // protocol) by default; "range", "roundrobin" give the EAGER protocol.
  std::string assignment_strategy = "cooperative-sticky";
  // Gets the assignment callbacks; may be null. Not owned; must outlive the consumer.
  RebalanceListener* listener = nullptr;
  // How often a background thread sets streamrec_consumer_lag{stage,topic,partition} of
  // every assigned partition to the high watermark (from librdkafka's background
  // fetcher, which keeps fetching while the application does not poll, until its queue
  // is full) minus the application's position, so a consumer that stops polling shows
  // its lag grow (polling also updates it after each fetch). 0: only after polls. No
  // broker request, except one committed-offset query per partition assigned without
  // an offset, before its first message.
  int lag_refresh_ms = 1000;
  // How much librdkafka prefetches ahead of the application, per assigned partition:
  // queued.max.messages.kbytes and queued.min.messages, unless `properties` sets them.
  // librdkafka's own defaults (64 MiB, 100,000 messages) let a consumer that lags — the
  // trainer on a stream faster than it trains — hold up to 64 MiB per partition,
  // growing with its lag (measured: the largest growth of a `streamrec run` soak). 16 MiB
  // is still many fetches ahead (a fetch returns at most fetch.message.max.bytes, 1 MiB,
  // per partition).
  int prefetch_kbytes = 16 * 1024;
  int prefetch_messages = 20'000;
};

// The librdkafka properties a consumer is created with: its defaults (auto.offset.reset,
// the assignment strategy, client.id, the prefetch bounds), then `options.properties`,
// then what it always sets (bootstrap.servers from `brokers`, group.id, manual offset
// storing and commits).
KafkaProperties ConsumerProperties(const ConsumerOptions& options, const std::string& group_id);

// A librdkafka high-level consumer with manual offset management (enable.auto.commit
// =false; nothing is committed unless the owner calls Commit*). One thread owns it: every
// method, and thus every RebalanceListener callback, runs on that thread. Its own lag
// thread (ConsumerOptions::lag_refresh_ms) only reads positions and cached watermarks;
// Close() stops it.
class KafkaConsumer {
 public:
  static Result<std::unique_ptr<KafkaConsumer>> Create(const ConsumerOptions& options);
  // Closes (leaving the group, with a final OnPartitionsRevoked) if not closed yet.
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Joins the group for these topics; partitions arrive through the listener while
  // polling.
  Status Subscribe(const std::vector<std::string>& topics);
  // Manual assignment with explicit start offsets (tools, replay readers); replaces the
  // current assignment. No group membership, no listener callbacks.
  Status Assign(const std::vector<TopicPartitionOffset>& partitions);
  Status Unassign();

  // Waits up to `timeout_ms` for one message: true with *out filled, false on timeout.
  // Transient client errors are logged and count as no message; a fatal error or a
  // listener exception is returned.
  Result<bool> Poll(int timeout_ms, Record* out);
  // Appends up to `max_messages` to *out, waiting at most `timeout_ms` for the first and
  // not at all for the rest. Returns how many were appended.
  Result<size_t> PollBatch(size_t max_messages, int timeout_ms, std::vector<Record>* out);

  // Commits these offsets (each the next offset to read) for the group, synchronously.
  // By default it waits as long as librdkafka does (with the coordinator down: until it
  // is back). With `timeout_ms` >= 0 it waits at most that long, and with `give_up` it
  // stops waiting once that returns true (asked every 100 ms); both return Timeout, and
  // the commit may still complete later. Rebalance callbacks are not served meanwhile.
  Status CommitSync(const std::vector<TopicPartitionOffset>& offsets, int timeout_ms = -1,
                    const std::function<bool()>& give_up = {});
  // Commits the current position of every assigned partition, synchronously.
  Status CommitPositions();
  // The group's committed offsets for these partitions (kOffsetStored where none).
  Result<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartitionOffset>& partitions, int timeout_ms);
  // Next offset to read for these partitions (kOffsetStored where unknown).
  Result<std::vector<TopicPartitionOffset>> Positions(
      const std::vector<TopicPartitionOffset>& partitions);
  // For each partition, the earliest offset whose message timestamp is at or after that
  // partition's `offset` field read as a timestamp (ms since the epoch); kOffsetEnd where
  // no such message exists. librdkafka's mock cluster answers kOffsetEnd for every
  // timestamp (it does not index them), so callers must treat kOffsetEnd as "maybe none".
  Result<std::vector<TopicPartitionOffset>> OffsetsForTimes(
      const std::vector<TopicPartitionOffset>& timestamps, int timeout_ms);
  // Moves the read position of an assigned partition.
  Status Seek(const TopicPartitionOffset& to, int timeout_ms);

  // The current assignment (offsets kOffsetStored).
  Result<std::vector<TopicPartitionOffset>> Assignment();
  // Low and high watermark, asked from the broker.
  Result<std::pair<int64_t, int64_t>> QueryWatermarks(const std::string& topic, int32_t partition,
                                                      int timeout_ms);
  // Number of partitions of `topic` (metadata request); NotFound if it does not exist.
  Result<int> PartitionCount(const std::string& topic, int timeout_ms);
  // "EAGER", "COOPERATIVE", or "NONE" before the first assignment.
  std::string RebalanceProtocol();
  const std::string& group_id() const;

  // Leaves the group (final OnPartitionsRevoked) and closes; idempotent. `timeout_ms` < 0
  // waits as long as librdkafka's close does (up to session.timeout.ms, 45 s by default,
  // when the group coordinator does not answer). With `timeout_ms` >= 0 the close runs on
  // librdkafka's background thread while this thread serves its callbacks; if it has not
  // finished by then, Timeout is returned and the consumer counts as closed (no further
  // listener callback: partitions not yet revoked are the owner's to close); its
  // librdkafka handle is then never destroyed (destroying it would wait for the
  // coordinator too): it is left to the process's exit, for processes that are stopping.
  // The coordinator drops the member after its session timeout. The same holds when
  // librdkafka does not answer the close's own unassign in time (a request its group
  // handler can drop while terminating).
  Status Close(int timeout_ms = -1);

 private:
  struct Rep;
  explicit KafkaConsumer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec
