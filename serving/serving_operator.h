#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "serving/http_api.h"
#include "serving/recommendation_service.h"
#include "serving/serving_members.h"
#include "serving/two_tower_loader.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec {
class AckedProducer;
}

namespace streamrec::runtime {
class CatchUpTracker;
}

namespace streamrec::serving {

struct ServingOperatorOptions {
  // bootstrap.servers (required) and librdkafka properties passed verbatim.
  std::string brokers;
  KafkaProperties kafka;
  TopicNames topics;
  // Consumer group of the request loop (clicks + rec-requests, co-partitioned); every
  // serving replica in the group answers for the users of its partitions.
  std::string group_id = "streamrec-serving";
  // The service: recommender weights, history window, k limits, model component.
  RecommendationServiceOptions service;
  // How announced snapshots are loaded and validated.
  TwoTowerLoaderOptions loader;
  // lambda.model batch: serve the batch layer's model, the model/ of each version
  // announced on topics.batch_views inside lambda.batch_dir (checked as the item stage
  // checks a view: batch::AdoptableView), as model version = the batch version; the
  // trainer's announcements on streamrec.models are then not read. Default false (the
  // online model).
  bool serve_batch_model = false;
  std::string batch_dir;
  // Answer `rec-requests` on `recommendations` (false: HTTP only).
  bool answer_kafka_requests = true;
  // Serve the HTTP API (on `http.host:http.port`).
  bool serve_http = true;
  HttpApiOptions http;
  // POST /v1/events answers 202 only once Kafka acknowledged every event of the request
  // (acks=all: durable), and 503 when that takes longer than this. Also the events'
  // message.timeout.ms unless `kafka` sets it, so an event whose client got 503 is not
  // written long after (one in flight may still be: a retry is at least once).
  int events_ack_timeout_ms = 5000;
  // Threads answering one polled batch of rec-requests in parallel (1: the loop's own).
  int request_threads = 2;
  // Poll timeout and batch size of every loop.
  int poll_timeout_ms = 100;
  size_t max_batch = 500;
  // How often the request loop commits its rec-requests positions.
  int commit_interval_ms = 1000;
  // fetch.wait.max.ms of the request consumer unless `kafka` sets it (librdkafka's
  // default, 500 ms, would add up to that much to a request's latency).
  int request_fetch_wait_ms = 5;
  // The same for the global-tables consumer (neighbour/stats/catalogue freshness).
  int table_fetch_wait_ms = 50;
  // Routing by user (serving/README.md "Routing"; needs serve_http and
  // answer_kafka_requests): the replica announces its HTTP address and its `clicks`
  // partitions on topics.serving_members, reads everyone's announcements, and forwards
  // GET /v1/recommendations for a user it does not own to the owner. Default true.
  bool routing = true;
  // This replica's id on the members topic. Default (empty): the advertised address.
  std::string replica_id;
  // HOST:PORT the other replicas use to reach this one. Default (empty): the HTTP API's
  // bound address, with the host name instead of 0.0.0.0 / :: / an empty host.
  std::string advertised_http;
  // Bound on a forwarded request (HttpApiOptions::forward_timeout_ms). Default 1000.
  int forward_timeout_ms = 1000;
  // The announcement is repeated this often even when nothing changed. Default 10000.
  int members_announce_interval_ms = 10000;
  // A changed assignment is announced once it held this long (a rebalance revokes and
  // assigns within a moment: its empty interlude is not announced). Default 200.
  int members_settle_ms = 200;
  // A change that only takes partitions away is announced once it held this long: a
  // rebalance revokes before it assigns, and until the next owner announces itself the
  // old owner (whose windows are still in memory) answers better than no owner. Default
  // 10000.
  int members_removal_settle_ms = 10000;
  // A clean stop hands the partitions over: the request loop leaves the group while the
  // HTTP API keeps answering from the windows in memory and the announcement keeps
  // claiming them, until each has another owner with its windows loaded, at most this
  // long (not at all when no other replica is known); then the tombstone. Default 10000.
  int leave_grace_ms = 10000;
  // User windows are rebuilt on assignment from a bounded time range of `clicks`: the
  // newest click's time T is read back at assignment (the largest timestamp among the
  // last 32 records of every clicks partition), and each assigned partition starts at
  // the broker's offset for T − windows_lookback_ms (offsets for times; from the
  // partition's start where the broker has no time index, as the embedded broker; at its
  // end where its own last records are all older); the clicks below the assignment's end
  // offset stamped before T − lookback are skipped, those produced after it are all
  // applied. Measured from the newest click, not from the wall clock, so a replayed old
  // history (MovieLens, 1998) still gets the windows of its last windows_lookback_ms
  // (from the wall clock only where no record could be read back). An empty partition
  // starts at its beginning. The cost: a seen item older than the range can be
  // recommended again after a restart or a rebalance (the window itself is bounded by
  // operators.window.horizon_s, 1 h by default). 0: everything the broker keeps (only if
  // set so). Default 7 days (serving.windows_lookback_hours 168).
  int64_t windows_lookback_ms = 7 * 24 * 3600 * 1000LL;
  // The ranker's training lists (docs/DESIGN.md "The ranking stage"). With
  // service.recommender.ranker_enabled, this share of the live clicks (sampled by a hash
  // of user, item and event time: the same clicks on every replica and after a restart)
  // each make a RankingExample (serving/ranking_example.h): the candidates the recommender
  // would rank for the user just before the click is applied (same code, same tables,
  // RankerCapture), the clicked item as the positive; a click whose item is not among them
  // is skipped. Published on topics.ranker_examples (key user id) by a producer of their
  // own, at least once; a failed delivery is counted, never fatal. Clicks re-read to
  // rebuild windows after an assignment, and clicks applied before the global tables were
  // loaded, make none. 0: none; with the ranker off: none. Default 0.1 (a request's CPU
  // on the clicks path for every tenth click: bench/RESULTS.md "The live ranker").
  double ranker_examples_rate = 0.1;
};

// The serving operator (DESIGN §2) on Kafka, with the HTTP API beside it. Three threads
// (four with routing), each owning its own consumer:
//  * tables: reads `items`, `streamrec.item-neighbors`, `streamrec.item-stats` with a
//    runtime::TableReader (every partition from the beginning, no group) and applies them
//    to the service's tables, publishing after each batch; tables count as loaded (for
//    /readyz) once the reader caught up (the end offsets it saw at start); this loop also
//    brings the request loop's catch-up (below) to /readyz;
//  * requests: a processor-managed topology on runtime::StageRunner, a member of
//    `group_id` on `clicks` and `rec-requests` (co-partitioned by user, range-assigned).
//    Clicks rebuild the in-memory recent windows of this replica's users — on every
//    assignment the clicks partitions are re-read from the newest click's time −
//    windows_lookback_ms (0: the beginning of what the broker keeps) — and each request is answered on `recommendations` (key: user id) with the
//    user's fresh window (at least once). Only rec-requests positions matter; they are
//    committed every commit_interval_ms and on revoke. The windows count as loaded (for
//    /readyz) while every assigned partition was read to its end offset as of its
//    assignment (a new assignment makes the stage unready until its windows are rebuilt);
//  * models: the ModelsTopicSource reading `streamrec.models` (a TableReader); each
//    announcement becomes an aspired version for the manager, which loads, validates and
//    hot-swaps it on this thread. Models count as loaded (for /readyz) once every
//    announcement up to the end offset seen at start was loaded or refused;
//  * members (routing on, HTTP served, Kafka requests answered): reads
//    topics.serving_members into members() and announces this replica there (its HTTP
//    address and the clicks partitions the requests loop owns), a tombstone on Stop();
//    the HTTP API forwards a request for a user another replica owns to that replica.
// A loop that fails (its consumer cannot be created, a fatal poll error, an answer that
// cannot be delivered) records its
// Status, logs it and stops the whole operator: Run() returns it, so the stage exits
// non-zero naming the cause. Bad records are skipped (logged), not failures.
// POST /v1/events is produced to `clicks` (key user id, the canonical event JSON) by the
// operator's producer, waiting for the acknowledgement (events_ack_timeout_ms), unless
// another EventSink is given. Start/Stop from one owner
// thread; service() is thread-safe.
class ServingOperator {
 public:
  using Options = ServingOperatorOptions;
  // `sink`: where POST /v1/events goes; empty means "produce to the clicks topic".
  explicit ServingOperator(Options options, EventSink sink = {});
  ~ServingOperator();
  ServingOperator(const ServingOperator&) = delete;
  ServingOperator& operator=(const ServingOperator&) = delete;

  // Creates the producer, starts the three loops and the HTTP API.
  Status Start();
  // Stops the loops and the HTTP API, flushes the producer. Idempotent.
  void Stop();
  // Start()s (unless started), serves until `stop` returns true or a loop fails, then
  // Stop()s. Returns the failing loop's Status (OK after a requested stop).
  Status Run(const std::function<bool()>& stop);
  // The first loop failure (OK while none failed). Thread-safe.
  Status error() const LOCKS_EXCLUDED(error_mu_);
  bool failed() const { return failed_.load(); }

  RecommendationService& service() { return *service_; }
  // The HTTP API when serve_http (after Start()), else null.
  const HttpApi* http() const { return http_.get(); }
  // Requests answered on Kafka so far.
  int64_t kafka_requests_answered() const { return answered_.load(); }
  // Clicks read while rebuilding windows and skipped as stamped before the range
  // (windows_lookback_ms): 0 where the broker started each partition at the offset for
  // the range's start (a broker with a time index), the older clicks read where it could
  // not (the embedded broker).
  int64_t clicks_skipped_before_lookback() const { return skipped_before_lookback_.load(); }
  // Ranking examples made and handed to the producer (ranker_examples_rate), and sampled
  // clicks skipped because their item was not among the candidates.
  int64_t ranker_examples_published() const { return ranker_examples_published_.load(); }
  int64_t ranker_examples_not_candidate() const { return ranker_examples_not_candidate_.load(); }
  // The membership directory (routing); null without routing.
  const ServingMembers* members() const { return members_.get(); }

 private:
  void TablesLoop();
  void RequestsLoop();
  void ModelsLoop();
  void BatchModelsLoop();
  void MembershipLoop();
  // Announces this replica as owning `partitions` (a tombstone when `leaving`); true
  // once acknowledged.
  bool Announce(bool leaving, const std::vector<int32_t>& partitions = {});
  Status ProduceEvents(const std::vector<ClickEvent>& events);
  // Records the first failure and asks every loop to stop.
  void Fail(const std::string& loop, const Status& st) LOCKS_EXCLUDED(error_mu_);

  const Options options_;
  EventSink sink_;
  std::unique_ptr<RecommendationService> service_;
  std::unique_ptr<AckedProducer> producer_;  // POST /v1/events
  std::unique_ptr<HttpApi> http_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> answered_{0};
  std::atomic<int64_t> skipped_before_lookback_{0};
  std::atomic<int64_t> ranker_examples_published_{0};
  std::atomic<int64_t> ranker_examples_not_candidate_{0};
  std::atomic<bool> failed_{false};
  mutable Mutex error_mu_;
  Status error_ GUARDED_BY(error_mu_);
  // The request loop's catch-up (set by that loop; read by the tables loop).
  mutable Mutex catch_up_mu_;
  std::shared_ptr<const runtime::CatchUpTracker> windows_catch_up_ GUARDED_BY(catch_up_mu_);
  std::thread tables_thread_;
  std::thread requests_thread_;
  std::thread models_thread_;
  std::thread members_thread_;
  bool started_ = false;
  // Routing: the directory, and what this replica announces.
  std::unique_ptr<ServingMembers> members_;
  std::string advertised_http_;
  int32_t clicks_partitions_ = 0;  // members thread
  int64_t generation_ = 0;         // members thread
  // The clicks partitions owned (set by the requests thread, read by the members thread).
  mutable Mutex assignment_mu_;
  std::vector<int32_t> assignment_ GUARDED_BY(assignment_mu_);
  int64_t assignment_changes_ GUARDED_BY(assignment_mu_) = 0;
  std::atomic<bool> tombstoned_{false};
  // Stop() with routing: the request loop leaves first (leaving_), then the members loop
  // hands the partitions over (requests_left_: the request loop has left).
  std::atomic<bool> leaving_{false};
  std::atomic<bool> requests_left_{false};
  // Set by Stop(): when the shutdown's bound (kShutdownBoundMs from the stop) ends, in
  // steady-clock milliseconds. The leave's tombstone and the final flush get what is left
  // of it, so a broker gone at the stop costs the bound once, not each step's own wait.
  std::atomic<int64_t> stop_deadline_ms_{0};
  static constexpr int64_t kShutdownBoundMs = 5000;
  // Milliseconds left of the shutdown's bound, at most `cap` (`cap` before a stop).
  int RemainingStopMs(int cap) const;
};

}  // namespace streamrec::serving
