#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "streams/kafka_producer.h"
#include "streams/synthetic_clicks.h"
#include "streams/topics.h"

namespace streamrec {

struct SyntheticSourceOptions {
  SyntheticOptions generator;
  ProducerOptions producer;  // brokers and properties of the source's own producer
  std::string clicks_topic = kClicksTopic;
  std::string items_topic = kItemsTopic;
  bool publish_catalog = true;  // publish every item to `items` (key item_id) first
  double rate = 0;              // events per second; 0 = as fast as possible
  int64_t max_events = -1;      // stop after this many; -1 = until Stop()
  // Stamp each event with the wall clock when it is sent instead of its simulated event
  // time (`streamrec run`'s live demo): simulated time runs faster than the wall clock at
  // high rates and would drift past operators.max_future_ms. Order is unchanged.
  bool wall_clock_time = false;
};

// The synthetic click generator on its own thread, publishing to Kafka (the default
// source of `streamrec run`, and `streamrec produce --synthetic N`). Events are keyed by
// user id and carry their event time as the Kafka timestamp. The source owns its
// producer and polls it. Public methods are thread-safe.
class SyntheticClickSource {
 public:
  static Result<std::unique_ptr<SyntheticClickSource>> Start(const SyntheticSourceOptions& options);
  // Stops and joins the thread, flushing what was produced (up to 10 s).
  ~SyntheticClickSource();

  // Asks the thread to stop after the current event; Wait() joins it.
  void Stop();
  // Joins the thread (returns at once if already joined) and flushes the producer; the
  // first error the thread or a delivery met, or OK.
  Status Wait();

  int64_t events_produced() const { return produced_.load(); }
  int64_t items_published() const { return items_.load(); }
  int64_t delivered() const;
  int64_t failed() const;
  bool finished() const { return finished_.load(); }

 private:
  explicit SyntheticClickSource(const SyntheticSourceOptions& options);
  void Run();
  void SetError(const Status& st);

  SyntheticSourceOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int64_t> produced_{0};
  std::atomic<int64_t> items_{0};
  Mutex mu_;
  Status error_ GUARDED_BY(mu_);
  bool joined_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace streamrec
