#include "streams/kafka_consumer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "core/deadline_call.h"
#include "core/thread_annotations.h"
#include "streams/rdkafka_conf.h"
#include "streams/rdkafka_log.h"
#include "streams/stream_metrics.h"

namespace streamrec {
namespace {

// Owns a vector of RdKafka::TopicPartition* created by us, or handed to us by
// librdkafka (assignment()), and destroys them.
class OwnedPartitions {
 public:
  OwnedPartitions() = default;
  explicit OwnedPartitions(const std::vector<TopicPartitionOffset>& tps) {
    for (const auto& tp : tps) {
      parts_.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, tp.offset));
    }
  }
  ~OwnedPartitions() { RdKafka::TopicPartition::destroy(parts_); }
  OwnedPartitions(const OwnedPartitions&) = delete;
  OwnedPartitions& operator=(const OwnedPartitions&) = delete;
  std::vector<RdKafka::TopicPartition*>& get() { return parts_; }

 private:
  std::vector<RdKafka::TopicPartition*> parts_;
};

std::vector<TopicPartitionOffset> ToOffsets(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<TopicPartitionOffset> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back({p->topic(), p->partition(), p->offset()});
  return out;
}

Status ErrorStatus(const std::string& what, RdKafka::ErrorCode code) {
  if (code == RdKafka::ERR_NO_ERROR) return Status::Ok();
  if (code == RdKafka::ERR__TIMED_OUT) return Status::Timeout(what + ": timed out");
  return Status::Unavailable(what + ": " + RdKafka::err2str(code));
}

Status ErrorStatus(const std::string& what, RdKafka::Error* error) {
  std::unique_ptr<RdKafka::Error> owned(error);
  if (!owned) return Status::Ok();
  return Status::Unavailable(what + ": " + owned->str());
}

std::string PrivateGroupId() {
  static std::atomic<int> counter{0};
  return "streamrec-tool-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

struct KafkaConsumer::Rep : public RdKafka::RebalanceCb, public RdKafka::EventCb {
  ConsumerOptions options;
  KafkaConsumer* self = nullptr;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  bool closed = false;
  bool abandoned = false;  // Close(timeout_ms) timed out: never destroyed (~KafkaConsumer)
  // Set when the handle is left to the process's exit (see ~KafkaConsumer): its librdkafka
  // threads live on and log (reconnects) from their own threads, possibly while the
  // process's static destructors tear spdlog down; event_cb then returns at once.
  std::atomic<bool> detached{false};
  bool subscribed = false;     // Subscribe() succeeded: a group member
  bool ever_assigned = false;  // a group assignment arrived (rebalance_cb)
  // Set while a bounded Close() serves the close's rebalance events: rebalance_cb's
  // assign/unassign is given up at this deadline (see AnswerRebalance).
  std::optional<std::chrono::steady_clock::time_point> close_deadline;
  // The group's rebalance protocol as last read outside a close; empty before.
  std::string protocol;
  Status pending_error;  // from a callback; returned by the next Poll
  std::map<std::string, prometheus::Counter*> consumed_counters;
  // The lag gauge of every assigned partition, created at assignment (so each exists at 0
  // before the first message) and refreshed by the polling thread after each fetch and by
  // the lag thread on a timer (so a consumer that stopped polling shows its lag grow).
  struct LagEntry {
    prometheus::Gauge* gauge = nullptr;
    prometheus::Gauge* behind = nullptr;  // streamrec_consumer_behind_seconds
    // The last time the lag was 0 (or the assignment, before the first reading).
    std::chrono::steady_clock::time_point caught_up_at;
    // Where reading starts when nothing was consumed yet: an offset, or kOffsetBeginning,
    // kOffsetEnd, kOffsetStored (the group's commit, else auto.offset.reset).
    int64_t start = kOffsetStored;
  };
  Mutex lag_mu;
  std::map<std::pair<std::string, int32_t>, LagEntry> lag GUARDED_BY(lag_mu);
  std::thread lag_thread;
  std::mutex lag_stop_mu;
  std::condition_variable lag_stop_cv;
  bool lag_stop = false;  // guarded by lag_stop_mu
  prometheus::Counter* assigned_counter = nullptr;
  prometheus::Counter* revoked_counter = nullptr;
  prometheus::Counter* lost_counter = nullptr;

  prometheus::Counter* ConsumedCounter(const std::string& topic) {
    auto it = consumed_counters.find(topic);
    if (it != consumed_counters.end()) return it->second;
    auto* c = &EventsConsumedFamily().Add({{"stage", options.stage}, {"topic", topic}});
    consumed_counters.emplace(topic, c);
    return c;
  }

  // Starts tracking these partitions (an assignment); `start` as in LagEntry.
  void TrackLag(const std::vector<TopicPartitionOffset>& tps) LOCKS_EXCLUDED(lag_mu) {
    MutexLock lock(&lag_mu);
    for (const auto& tp : tps) {
      LagEntry& e = lag[{tp.topic, tp.partition}];
      if (e.gauge == nullptr) {
        const prometheus::Labels labels = {{"stage", options.stage},
                                           {"topic", tp.topic},
                                           {"partition", std::to_string(tp.partition)}};
        e.gauge = &ConsumerLagFamily().Add(labels);
        e.behind = &ConsumerBehindSecondsFamily().Add(labels);
        e.caught_up_at = std::chrono::steady_clock::now();
      }
      e.start = tp.offset;
    }
  }

  void DropLagGauges(const std::vector<TopicPartitionOffset>& tps) LOCKS_EXCLUDED(lag_mu) {
    MutexLock lock(&lag_mu);
    for (const auto& tp : tps) {
      auto it = lag.find({tp.topic, tp.partition});
      if (it == lag.end()) continue;
      ConsumerLagFamily().Remove(it->second.gauge);
      ConsumerBehindSecondsFamily().Remove(it->second.behind);
      lag.erase(it);
    }
  }

  void DropAllLagGauges() LOCKS_EXCLUDED(lag_mu) {
    MutexLock lock(&lag_mu);
    for (auto& [tp, e] : lag) {
      ConsumerLagFamily().Remove(e.gauge);
      ConsumerBehindSecondsFamily().Remove(e.behind);
    }
    lag.clear();
  }

  void SetLag(const std::string& topic, int32_t partition, double value) LOCKS_EXCLUDED(lag_mu) {
    MutexLock lock(&lag_mu);
    auto it = lag.find({topic, partition});
    if (it == lag.end()) return;  // revoked meanwhile
    LagEntry& e = it->second;
    const auto now = std::chrono::steady_clock::now();
    if (value <= 0) e.caught_up_at = now;
    e.gauge->Set(value);
    e.behind->Set(value <= 0 ? 0.0 : std::chrono::duration<double>(now - e.caught_up_at).count());
  }

  // The lag thread: every lag_refresh_ms, the high watermark minus the application's
  // position of each tracked partition. The watermark is the one librdkafka's fetcher
  // cached from the broker's last fetch response: the fetcher keeps fetching in the
  // background while the application does not poll (until its local queue is full,
  // queued.min.messages), so the lag of a stalled consumer grows. Nothing here waits on
  // the broker except committed() (bounded by its timeout, and only before the first
  // message): query_watermark_offsets() does not honour its timeout when the broker is
  // gone (librdkafka 2.0.2), and Close() joins this thread.
  void RefreshLagLoop() {
    const auto interval = std::chrono::milliseconds(options.lag_refresh_ms);
    std::unique_lock<std::mutex> stop_lock(lag_stop_mu);
    while (!lag_stop_cv.wait_for(stop_lock, interval, [this] { return lag_stop; })) {
      stop_lock.unlock();
      RefreshLagOnce();
      stop_lock.lock();
    }
  }

  void RefreshLagOnce() LOCKS_EXCLUDED(lag_mu) {
    std::vector<std::pair<std::pair<std::string, int32_t>, int64_t>> tracked;
    {
      MutexLock lock(&lag_mu);
      for (const auto& [tp, e] : lag) tracked.push_back({tp, e.start});
    }
    const int timeout_ms = std::max(100, std::min(options.lag_refresh_ms, 1000));
    for (const auto& [tp, start] : tracked) {
      {
        std::lock_guard<std::mutex> stop_lock(lag_stop_mu);
        if (lag_stop) return;
      }
      int64_t low = 0, high = 0;
      if (consumer->get_watermark_offsets(tp.first, tp.second, &low, &high) !=
              RdKafka::ERR_NO_ERROR ||
          high < 0) {
        continue;  // no fetch response yet
      }
      const int64_t next = NextOffset(tp.first, tp.second, start, low, high, timeout_ms);
      SetLag(tp.first, tp.second, static_cast<double>(std::max<int64_t>(0, high - next)));
    }
  }

  // The next offset the application will read: its position once it consumed something,
  // else where reading starts. A logical start (beginning, end, stored) is resolved once
  // and remembered, as the fetcher resolves it once: assigned at the end, messages that
  // arrive later are lag.
  int64_t NextOffset(const std::string& topic, int32_t partition, int64_t start, int64_t low,
                     int64_t high, int timeout_ms) LOCKS_EXCLUDED(lag_mu) {
    OwnedPartitions part({{topic, partition, kOffsetStored}});
    if (consumer->position(part.get()) == RdKafka::ERR_NO_ERROR && part.get()[0]->offset() >= 0) {
      return part.get()[0]->offset();
    }
    if (start >= 0) return start;
    int64_t resolved = high;
    if (start == kOffsetBeginning) {
      resolved = low;
    } else if (start != kOffsetEnd) {
      OwnedPartitions committed({{topic, partition, kOffsetStored}});
      if (consumer->committed(committed.get(), timeout_ms) == RdKafka::ERR_NO_ERROR &&
          committed.get()[0]->offset() >= 0) {
        resolved = committed.get()[0]->offset();
      } else if (options.auto_offset_reset == "earliest" ||
                 options.auto_offset_reset == "smallest" ||
                 options.auto_offset_reset == "beginning") {
        resolved = low;
      }
    }
    MutexLock lock(&lag_mu);
    auto it = lag.find({topic, partition});
    if (it != lag.end() && it->second.start == start) it->second.start = resolved;
    return resolved;
  }

  void StopLagThread() {
    {
      std::lock_guard<std::mutex> stop_lock(lag_stop_mu);
      lag_stop = true;
    }
    lag_stop_cv.notify_all();
    if (lag_thread.joinable()) lag_thread.join();
  }

  // "COOPERATIVE" or "EAGER". Asked of librdkafka outside a close only: the request waits
  // for the group handler without a timeout, and during a close the handler may be gone
  // (librdkafka #4041). Before any assignment, the configured assignor decides.
  const std::string& Protocol(RdKafka::KafkaConsumer* c) {
    if (!close_deadline) protocol = c->rebalance_protocol();
    if (protocol != "COOPERATIVE" && protocol != "EAGER") {
      protocol = options.assignment_strategy.find("cooperative-sticky") != std::string::npos ? "COOPERATIVE"
                                                                                             : "EAGER";
    }
    return protocol;
  }

  // The assign (or unassign) call that answers a rebalance event. librdkafka (2.0.2) waits
  // for the group handler's reply to it without a timeout, and a group that terminates
  // during a close can drop the request unanswered (its termination purges the main queue
  // the request was forwarded to): seen as a close that never returned when two members
  // left their group together, about once in 30. During a bounded Close() the call runs on
  // a thread of its own and is given up at the close's deadline: the handle is then
  // abandoned (never destroyed, the thread left waiting) as for any close that times out.
  Status AnswerRebalance(RdKafka::KafkaConsumer* c, bool assign, bool cooperative,
                         std::vector<RdKafka::TopicPartition*>& parts) {
    auto call = [c, assign, cooperative](std::vector<RdKafka::TopicPartition*>& tps) {
      if (assign) {
        return cooperative ? ErrorStatus("incremental_assign", c->incremental_assign(tps))
                           : ErrorStatus("assign", c->assign(tps));
      }
      return cooperative ? ErrorStatus("incremental_unassign", c->incremental_unassign(tps))
                         : ErrorStatus("unassign", c->unassign());
    };
    if (!close_deadline) return call(parts);
    auto copy = std::make_shared<OwnedPartitions>(ToOffsets(parts));
    std::optional<Status> answered = CallBefore<Status>(*close_deadline, [call, copy] { return call(copy->get()); });
    if (answered) return *answered;
    abandoned = true;
    return Status::Timeout(std::string(assign ? "assign" : "unassign") +
                           ": no answer from librdkafka's group handler before the close's deadline");
  }

  // Runs inside consume()/close() on the owning thread. No exception escapes.
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    const bool cooperative = Protocol(c) == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      ever_assigned = true;
      std::vector<TopicPartitionOffset> tps = ToOffsets(parts);
      assigned_counter->Increment();
      if (options.listener != nullptr) {
        try {
          options.listener->OnPartitionsAssigned(self, &tps);
        } catch (const std::exception& e) {
          pending_error = Status::Internal(std::string("OnPartitionsAssigned threw: ") + e.what());
        } catch (...) {
          pending_error = Status::Internal("OnPartitionsAssigned threw");
        }
      }
      if (tps.size() == parts.size()) {
        for (size_t i = 0; i < parts.size(); ++i) {
          if (tps[i].topic == parts[i]->topic() && tps[i].partition == parts[i]->partition()) {
            parts[i]->set_offset(tps[i].offset);
          }
        }
      } else if (pending_error.ok()) {
        pending_error = Status::Internal("OnPartitionsAssigned changed the partition list");
      }
      TrackLag(ToOffsets(parts));
      spdlog::debug("[consumer {}] assigned {} partitions ({})", options.group_id, parts.size(),
                    cooperative ? "cooperative" : "eager");
      Status st = AnswerRebalance(c, /*assign=*/true, cooperative, parts);
      if (!st.ok() && pending_error.ok()) pending_error = st;
      return;
    }
    std::vector<TopicPartitionOffset> tps;
    if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      c->position(parts);
      tps = ToOffsets(parts);
      const bool lost = c->assignment_lost();
      (lost ? lost_counter : revoked_counter)->Increment();
      if (options.listener != nullptr) {
        try {
          if (lost) {
            options.listener->OnPartitionsLost(self, tps);
          } else {
            options.listener->OnPartitionsRevoked(self, tps);
          }
        } catch (const std::exception& e) {
          pending_error = Status::Internal(std::string("OnPartitionsRevoked threw: ") + e.what());
        } catch (...) {
          pending_error = Status::Internal("OnPartitionsRevoked threw");
        }
      }
      spdlog::debug("[consumer {}] revoked {} partitions{}", options.group_id, parts.size(),
                    lost ? " (lost)" : "");
    } else {
      spdlog::warn("[consumer {}] rebalance error: {}", options.group_id, RdKafka::err2str(err));
      tps = ToOffsets(parts);
    }
    DropLagGauges(tps);
    Status st = AnswerRebalance(c, /*assign=*/false, cooperative, parts);
    if (!st.ok() && pending_error.ok()) pending_error = st;
  }

  void event_cb(RdKafka::Event& event) override {
    if (detached.load(std::memory_order_acquire)) return;
    try {
      if (event.type() == RdKafka::Event::EVENT_LOG) {
        internal::LogRdKafkaLine(event.severity(), "consumer " + options.group_id, event.fac(), event.str());
      } else if (event.type() == RdKafka::Event::EVENT_ERROR) {
        if (event.fatal()) {
          pending_error = Status::Internal("fatal consumer error: " + event.str());
        } else {
          spdlog::debug("[consumer {}] {}: {}", options.group_id, RdKafka::err2str(event.err()),
                        event.str());
        }
      }
    } catch (...) {
      // Never throw into librdkafka.
    }
  }

  // Handles one consumed message: true if it is a record (copied into *out).
  Result<bool> Handle(RdKafka::Message* msg, Record* out) {
    switch (msg->err()) {
      case RdKafka::ERR_NO_ERROR:
        internal::CopyMessage(*msg, out);
        ConsumedCounter(out->topic)->Increment();
        return true;
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        return false;
      case RdKafka::ERR__FATAL:
        return Status::Internal("consumer fatal error: " + msg->errstr());
      default:
        spdlog::warn("[consumer {}] {}", options.group_id, msg->errstr());
        return false;
    }
  }

  // After a fetch: the high watermark librdkafka cached with it, minus the next offset.
  void UpdateLag(const std::string& topic, int32_t partition, int64_t offset) {
    int64_t low = 0, high = 0;
    if (consumer->get_watermark_offsets(topic, partition, &low, &high) == RdKafka::ERR_NO_ERROR &&
        high >= 0) {
      SetLag(topic, partition, static_cast<double>(std::max<int64_t>(0, high - offset - 1)));
    }
  }

  Status TakePendingError() {
    Status st = pending_error;
    pending_error = Status::Ok();
    return st;
  }
};

KafkaConsumer::KafkaConsumer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) { rep_->self = this; }

KafkaProperties ConsumerProperties(const ConsumerOptions& options, const std::string& group_id) {
  KafkaProperties props;
  props["auto.offset.reset"] = options.auto_offset_reset;
  props["partition.assignment.strategy"] = options.assignment_strategy;
  props["client.id"] = "streamrec";
  if (options.prefetch_kbytes > 0) props["queued.max.messages.kbytes"] = std::to_string(options.prefetch_kbytes);
  if (options.prefetch_messages > 0) props["queued.min.messages"] = std::to_string(options.prefetch_messages);
  for (const auto& [k, v] : options.properties) props[k] = v;
  if (!options.brokers.empty()) props["bootstrap.servers"] = options.brokers;
  props["group.id"] = group_id;
  props["enable.auto.commit"] = "false";
  props["enable.auto.offset.store"] = "false";
  return props;
}

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const ConsumerOptions& options) {
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  if (rep->options.group_id.empty()) rep->options.group_id = PrivateGroupId();
  if (rep->options.stage.empty()) rep->options.stage = rep->options.group_id;
  const KafkaProperties props = ConsumerProperties(options, rep->options.group_id);
  if (props.count("bootstrap.servers") == 0 && props.count("metadata.broker.list") == 0) {
    return Status::InvalidArgument(
        "consumer: no brokers (set --brokers or kafka.bootstrap.servers)");
  }
  auto conf = internal::BuildGlobalConf(props);
  if (!conf.ok()) return conf.status().WithContext("consumer");
  std::string err;
  if (conf.value()->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(rep.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf.value()->set("event_cb", static_cast<RdKafka::EventCb*>(rep.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    return Status::Internal("consumer: " + err);
  }
  rep->consumer.reset(RdKafka::KafkaConsumer::create(conf.value().get(), err));
  if (!rep->consumer) return Status::InvalidArgument("consumer: " + err);
  auto& rebalances = ConsumerRebalancesFamily();
  rep->assigned_counter = &rebalances.Add({{"stage", rep->options.stage}, {"kind", "assigned"}});
  rep->revoked_counter = &rebalances.Add({{"stage", rep->options.stage}, {"kind", "revoked"}});
  rep->lost_counter = &rebalances.Add({{"stage", rep->options.stage}, {"kind", "lost"}});
  if (rep->options.lag_refresh_ms > 0) {
    Rep* r = rep.get();
    rep->lag_thread = std::thread([r] { r->RefreshLagLoop(); });
  }
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(rep)));
}

KafkaConsumer::~KafkaConsumer() {
  if (rep_->abandoned) {
    // A bounded Close() timed out: librdkafka's destroy would join its main thread, which
    // waits for the group handler to terminate, i.e. for the unreachable coordinator (the
    // leave and any commit still queued) for up to session.timeout.ms or the request
    // timeout. The handle and everything its callbacks reach (this Rep) are left to the
    // process's exit instead; only a process that is stopping anyway gets here.
    spdlog::warn("[consumer {}] not destroyed: its close did not finish in time", rep_->options.group_id);
    rep_->detached.store(true, std::memory_order_release);
    (void)rep_.release();
    return;
  }
  Status st = Close();
  if (!st.ok()) spdlog::warn("[consumer {}] close: {}", rep_->options.group_id, st.message());
  if (rep_->subscribed && !rep_->ever_assigned &&
      rep_->options.assignment_strategy.find("cooperative-sticky") != std::string::npos) {
    // librdkafka < 2.3 aborts when a cooperative-sticky member that joined its group but
    // never received an assignment is destroyed (rd_kafka_sticky_assignor_state_destroy:
    // assertion `assignor_state', librdkafka issue #4312): seen when a stage was stopped
    // while its broker was gone. Such a handle is closed but left to the process's exit.
    spdlog::debug("[consumer {}] closed before any assignment: not destroyed (librdkafka #4312)",
                  rep_->options.group_id);
    rep_->detached.store(true, std::memory_order_release);
    (void)rep_.release();
  }
}

Status KafkaConsumer::Subscribe(const std::vector<std::string>& topics) {
  for (const auto& topic : topics) rep_->ConsumedCounter(topic);  // at 0 from the start
  Status st = ErrorStatus("subscribe", rep_->consumer->subscribe(topics));
  rep_->subscribed = rep_->subscribed || st.ok();
  return st;
}

Status KafkaConsumer::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  OwnedPartitions parts(partitions);
  auto code = rep_->consumer->assign(parts.get());
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("assign", code);
  for (const auto& tp : partitions) rep_->ConsumedCounter(tp.topic);  // at 0 from the start
  rep_->DropAllLagGauges();
  rep_->TrackLag(partitions);
  return Status::Ok();
}

Status KafkaConsumer::Unassign() {
  auto code = rep_->consumer->unassign();
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("unassign", code);
  rep_->DropAllLagGauges();
  return Status::Ok();
}

Result<bool> KafkaConsumer::Poll(int timeout_ms, Record* out) {
  if (rep_->closed) return Status::FailedPrecondition("consumer is closed");
  std::unique_ptr<RdKafka::Message> msg(rep_->consumer->consume(timeout_ms));
  Status pending = rep_->TakePendingError();
  if (!pending.ok()) return pending;
  Result<bool> got = rep_->Handle(msg.get(), out);
  if (got.ok() && got.value()) rep_->UpdateLag(out->topic, out->partition, out->offset);
  return got;
}

Result<size_t> KafkaConsumer::PollBatch(size_t max_messages, int timeout_ms,
                                        std::vector<Record>* out) {
  if (rep_->closed) return Status::FailedPrecondition("consumer is closed");
  size_t n = 0;
  std::map<std::pair<std::string, int32_t>, int64_t> last_offsets;
  int wait = timeout_ms;
  while (n < max_messages) {
    std::unique_ptr<RdKafka::Message> msg(rep_->consumer->consume(wait));
    Status pending = rep_->TakePendingError();
    if (!pending.ok()) return pending;
    const bool timed_out = msg->err() == RdKafka::ERR__TIMED_OUT;
    out->emplace_back();
    Result<bool> got = rep_->Handle(msg.get(), &out->back());
    if (!got.ok()) {
      out->pop_back();
      return got.status();
    }
    if (!got.value()) {
      out->pop_back();
      if (timed_out) break;
      wait = 0;
      continue;
    }
    last_offsets[{out->back().topic, out->back().partition}] = out->back().offset;
    ++n;
    wait = 0;
  }
  for (const auto& [tp, offset] : last_offsets) rep_->UpdateLag(tp.first, tp.second, offset);
  return n;
}

Status KafkaConsumer::CommitSync(const std::vector<TopicPartitionOffset>& offsets, int timeout_ms,
                                 const std::function<bool()>& give_up) {
  if (offsets.empty()) return Status::Ok();
  if (timeout_ms >= 0 || give_up) {
    // The commit's result goes to a queue of our own, waited on in slices: librdkafka's
    // synchronous commit waits for a coordinator that may be gone for good.
    rd_kafka_t* rk = rep_->consumer->c_ptr();
    std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)> list(
        rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())), rd_kafka_topic_partition_list_destroy);
    for (const auto& tp : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = tp.offset;
    }
    std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(rk),
                                                                         rd_kafka_queue_destroy);
    const rd_kafka_resp_err_t started = rd_kafka_commit_queue(rk, list.get(), queue.get(), nullptr, nullptr);
    if (started != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ErrorStatus("commit", static_cast<RdKafka::ErrorCode>(started));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      if (give_up && give_up()) return Status::Timeout("commit: abandoned while waiting for the coordinator");
      int slice = 100;
      if (timeout_ms >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
          return Status::Timeout("commit: no answer from the group coordinator within " +
                                 std::to_string(timeout_ms) + " ms");
        }
        slice = static_cast<int>(std::min<int64_t>(left, 100));
      }
      rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), slice);
      if (event == nullptr) continue;
      std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)> owned(event, rd_kafka_event_destroy);
      if (rd_kafka_event_type(event) != RD_KAFKA_EVENT_OFFSET_COMMIT) continue;
      const rd_kafka_resp_err_t err = rd_kafka_event_error(event);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return ErrorStatus("commit", static_cast<RdKafka::ErrorCode>(err));
      if (const rd_kafka_topic_partition_list_t* done = rd_kafka_event_topic_partition_list(event)) {
        for (int i = 0; i < done->cnt; ++i) {
          const rd_kafka_topic_partition_t& p = done->elems[i];
          if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return ErrorStatus("commit " + internal::PartitionName(p.topic, p.partition),
                               static_cast<RdKafka::ErrorCode>(p.err));
          }
        }
      }
      return Status::Ok();
    }
  }
  OwnedPartitions parts(offsets);
  auto code = rep_->consumer->commitSync(parts.get());
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("commit", code);
  for (const auto* p : parts.get()) {
    if (p->err() != RdKafka::ERR_NO_ERROR) {
      return ErrorStatus("commit " + internal::PartitionName(p->topic(), p->partition()), p->err());
    }
  }
  return Status::Ok();
}

Status KafkaConsumer::CommitPositions() {
  auto assigned = Assignment();
  if (!assigned.ok()) return assigned.status();
  auto positions = Positions(assigned.value());
  if (!positions.ok()) return positions.status();
  std::vector<TopicPartitionOffset> to_commit;
  for (const auto& tp : positions.value()) {
    if (tp.offset >= 0) to_commit.push_back(tp);
  }
  return CommitSync(to_commit);
}

Result<std::vector<TopicPartitionOffset>> KafkaConsumer::Committed(
    const std::vector<TopicPartitionOffset>& partitions, int timeout_ms) {
  OwnedPartitions parts(partitions);
  auto code = rep_->consumer->committed(parts.get(), timeout_ms);
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("committed", code);
  return ToOffsets(parts.get());
}

Result<std::vector<TopicPartitionOffset>> KafkaConsumer::Positions(
    const std::vector<TopicPartitionOffset>& partitions) {
  OwnedPartitions parts(partitions);
  auto code = rep_->consumer->position(parts.get());
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("position", code);
  return ToOffsets(parts.get());
}

Result<std::vector<TopicPartitionOffset>> KafkaConsumer::OffsetsForTimes(
    const std::vector<TopicPartitionOffset>& timestamps, int timeout_ms) {
  OwnedPartitions parts(timestamps);
  auto code = rep_->consumer->offsetsForTimes(parts.get(), timeout_ms);
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("offsets for times", code);
  for (const auto* p : parts.get()) {
    if (p->err() != RdKafka::ERR_NO_ERROR) {
      return ErrorStatus("offsets for times of " + internal::PartitionName(p->topic(), p->partition()),
                         p->err());
    }
  }
  return ToOffsets(parts.get());
}

Status KafkaConsumer::Seek(const TopicPartitionOffset& to, int timeout_ms) {
  std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(to.topic, to.partition, to.offset));
  auto code = rep_->consumer->seek(*tp, timeout_ms);
  if (code != RdKafka::ERR_NO_ERROR) {
    return ErrorStatus("seek " + internal::PartitionName(to.topic, to.partition), code);
  }
  return Status::Ok();
}

Result<std::vector<TopicPartitionOffset>> KafkaConsumer::Assignment() {
  OwnedPartitions parts;
  auto code = rep_->consumer->assignment(parts.get());
  std::vector<TopicPartitionOffset> out = ToOffsets(parts.get());
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("assignment", code);
  for (auto& tp : out) tp.offset = kOffsetStored;
  return out;
}

Result<std::pair<int64_t, int64_t>> KafkaConsumer::QueryWatermarks(const std::string& topic,
                                                                   int32_t partition,
                                                                   int timeout_ms) {
  int64_t low = 0, high = 0;
  auto code = rep_->consumer->query_watermark_offsets(topic, partition, &low, &high, timeout_ms);
  if (code != RdKafka::ERR_NO_ERROR) {
    return ErrorStatus("watermarks of " + internal::PartitionName(topic, partition), code);
  }
  return std::make_pair(low, high);
}

Result<int> KafkaConsumer::PartitionCount(const std::string& topic, int timeout_ms) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(
      RdKafka::Topic::create(rep_->consumer.get(), topic, nullptr, err));
  if (!t) return Status::InvalidArgument("topic " + topic + ": " + err);
  RdKafka::Metadata* raw = nullptr;
  auto code = rep_->consumer->metadata(false, t.get(), &raw, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("metadata for " + topic, code);
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
        return Status::NotFound("topic " + topic + " does not exist");
      }
      return ErrorStatus("metadata for " + topic, tm->err());
    }
    return static_cast<int>(tm->partitions()->size());
  }
  return Status::NotFound("topic " + topic + " does not exist");
}

std::string KafkaConsumer::RebalanceProtocol() { return rep_->consumer->rebalance_protocol(); }

const std::string& KafkaConsumer::group_id() const { return rep_->options.group_id; }

Status KafkaConsumer::Close(int timeout_ms) {
  if (rep_->closed) return Status::Ok();
  rep_->closed = true;
  rep_->StopLagThread();
  if (timeout_ms >= 0) {
    // librdkafka closes on its own thread and forwards what the close produces to
    // `queue`: rebalance events (served here, so the listener runs on this thread as with
    // the blocking close()) and whatever was fetched and not consumed (dropped). Served
    // with the event API: the C++ Queue::poll() serves callbacks and asserts on the
    // fetched messages it cannot hand to one (rd_kafka_q_serve: res != PASS, an abort).
    rd_kafka_t* rk = rep_->consumer->c_ptr();
    std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(rk),
                                                                         rd_kafka_queue_destroy);
    if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk, queue.get())) {
      const std::string what = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      rep_->DropAllLagGauges();
      return Status::Unavailable("close: " + what);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    rep_->close_deadline = deadline;
    while (!rd_kafka_consumer_closed(rk)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) {
        rep_->DropAllLagGauges();
        rep_->abandoned = true;
        return Status::Timeout("close: the consumer group was not left within " +
                               std::to_string(timeout_ms) + " ms (coordinator unreachable?)");
      }
      rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), static_cast<int>(std::min<int64_t>(left, 100)));
      if (event == nullptr) continue;
      std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)> owned(event, rd_kafka_event_destroy);
      if (rd_kafka_event_type(event) != RD_KAFKA_EVENT_REBALANCE) continue;
      std::vector<RdKafka::TopicPartition*> parts;
      if (const rd_kafka_topic_partition_list_t* list = rd_kafka_event_topic_partition_list(event)) {
        for (int i = 0; i < list->cnt; ++i) {
          parts.push_back(
              RdKafka::TopicPartition::create(list->elems[i].topic, list->elems[i].partition, list->elems[i].offset));
        }
      }
      rep_->rebalance_cb(rep_->consumer.get(), static_cast<RdKafka::ErrorCode>(rd_kafka_event_error(event)), parts);
      RdKafka::TopicPartition::destroy(parts);
      if (rep_->abandoned) {
        rep_->DropAllLagGauges();
        return Status::Timeout("close: librdkafka did not answer the close's unassign within " +
                               std::to_string(timeout_ms) + " ms; the consumer is left to the process's exit");
      }
    }
    rep_->DropAllLagGauges();
    return rep_->TakePendingError();
  }
  auto code = rep_->consumer->close();
  rep_->DropAllLagGauges();  // a closed consumer has no lag (Assign()ed ones get no revoke)
  Status pending = rep_->TakePendingError();
  if (code != RdKafka::ERR_NO_ERROR) return ErrorStatus("close", code);
  return pending;
}

}  // namespace streamrec
