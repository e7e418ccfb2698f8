#include "serving/serving_operator.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include <time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "batch/batch_view_follower.h"
#include "core/metrics.h"
#include "runtime/catch_up.h"
#include "runtime/stage_runner.h"
#include "runtime/table_reader.h"
#include "serving/ranking_example.h"
#include "streams/acked_producer.h"
#include "streams/click_event.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_producer.h"

namespace streamrec::serving {
namespace {

// Announces the snapshots published on `streamrec.models` (a single-partition,
// totally ordered log) to the manager. Runs on the models thread, which owns its
// consumer; loads happen there too (synchronously in the callback).
class ModelsTopicSource : public Source<TwoTowerModel> {
 public:
  ModelsTopicSource(std::string component, TwoTowerLoaderOptions loader_options,
                    const UserHistoryStore* recent)
      : component_(std::move(component)), loader_options_(loader_options), recent_(recent) {}

  void SetAspiredVersionsCallback(AspiredVersionsCallback callback) override {
    callback_ = std::move(callback);
  }

  // Turns one batch of announcements into one aspired-versions call.
  void OnBatch(const std::vector<Record>& records) {
    std::vector<AspiredVersion<TwoTowerModel>> versions;
    for (const Record& r : records) {
      Result<AspiredVersion<TwoTowerModel>> v =
          AspiredVersionFromAnnouncement(r.value, component_, loader_options_, recent_);
      if (!v.ok()) {
        if (v.status().code() != Status::Code::kNotFound) {
          spdlog::warn("[serving] {}:{}@{}: {}", r.topic, r.partition, r.offset,
                       v.status().ToString());
        }
        continue;
      }
      versions.push_back(std::move(v).value());
    }
    if (versions.empty() || !callback_) return;
    Status st = callback_(std::move(versions));
    if (!st.ok()) spdlog::warn("[serving] model refused: {}", st.ToString());
  }

  // One version from elsewhere (the batch layer's models: BatchModelsLoop).
  void OfferVersion(int64_t version, int64_t created_ms, std::unique_ptr<Loader<TwoTowerModel>> loader) {
    if (!callback_) return;
    std::vector<AspiredVersion<TwoTowerModel>> versions(1);
    versions[0].version = version;
    versions[0].created_ms = created_ms;
    versions[0].loader = std::move(loader);
    Status st = callback_(std::move(versions));
    if (!st.ok()) spdlog::warn("[serving] batch model v{} refused: {}", version, st.ToString());
  }

 private:
  const std::string component_;
  const TwoTowerLoaderOptions loader_options_;
  const UserHistoryStore* recent_;
  AspiredVersionsCallback callback_;
};

// The live ranker's examples (ServingOperatorOptions::ranker_examples_rate): made on the
// requests thread for a sampled live click just before it is applied, produced on
// topics.ranker_examples (key user id) by a producer of their own. A failure to enqueue
// or deliver is counted and logged once, never fatal: serving does not stop for the
// ranker's training data (a Forward through the runner would stop it).
class RankingExamples {
 public:
  static Result<std::unique_ptr<RankingExamples>> Create(const ServingOperatorOptions& o,
                                                         std::atomic<int64_t>* published,
                                                         std::atomic<int64_t>* not_candidate,
                                                         std::function<bool()> stopping) {
    std::unique_ptr<RankingExamples> x(new RankingExamples(o, published, not_candidate));
    ProducerOptions po;
    po.brokers = o.brokers;
    po.properties = o.kafka;
    po.stop = std::move(stopping);  // a stopping operator waits at most 1 s for acknowledgements
    po.queue_full_timeout_ms = 100;  // never hold the clicks path on a full queue for long
    RankingExamples* raw = x.get();
    po.on_delivery = [raw](const DeliveryReport& report) {
      if (report.status.ok()) return;
      raw->failed_.Increment();
      raw->LogFailureOnce(report.status);
    };
    auto producer = KafkaProducer::Create(po);
    if (!producer.ok()) return producer.status().WithContext("ranker examples producer");
    x->producer_ = std::move(producer).value();
    return x;
  }

  // `event`, a live click, is about to be applied to its user's window. Nothing before
  // the global tables are loaded (the lists would lack their candidates).
  void OnLiveClick(const RecommendationService& service, const ClickEvent& event) {
    if (!SampleRankingExample(rate_, event.user_key, event.item_key, event.ts_ms)) return;
    if (!service.GetReadiness().tables_loaded) return;
    const double cpu_start = ThreadCpuSeconds();
    RecRequest request;
    request.user_id = event.user_id;
    request.k = kRequestK;
    request.as_of_ms = event.ts_ms;
    Result<RecResponse> response = service.Recommend(request, &capture_);
    RankingExample example;
    bool made = response.ok() && MakeRankingExample(capture_, event.item_key, &example);
    std::string value;
    if (made) {
      example.user_key = event.user_key;
      example.user_id = event.user_id;
      example.ts_ms = event.ts_ms;
      value = EncodeRankingExample(example);
    }
    cpu_.Increment(std::max(0.0, ThreadCpuSeconds() - cpu_start));
    if (!made) {
      not_candidate_metric_.Increment();
      not_candidate_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    Status st = producer_->Produce(topic_, event.user_id, value);
    if (!st.ok()) {
      failed_.Increment();
      LogFailureOnce(st);
    } else {
      published_metric_.Increment();
      published_.fetch_add(1, std::memory_order_relaxed);
      if (capture_.ranked) ranked_.Increment();
    }
    producer_->Poll(0);
  }

 private:
  // k of the request whose candidates are captured: the capture holds the depth
  // (serving.ranker.depth) best by the blend whatever k is, as in the harnesses.
  static constexpr int64_t kRequestK = 10;

  RankingExamples(const ServingOperatorOptions& o, std::atomic<int64_t>* published,
                  std::atomic<int64_t>* not_candidate)
      : topic_(o.topics.ranker_examples),
        rate_(o.ranker_examples_rate),
        published_(*published),
        not_candidate_(*not_candidate),
        published_metric_(Family().Add({{"result", "published"}})),
        not_candidate_metric_(Family().Add({{"result", "not_candidate"}})),
        failed_(Family().Add({{"result", "failed"}})),
        cpu_(prometheus::BuildCounter()
                 .Name("streamrec_serving_ranker_example_cpu_seconds_total")
                 .Help("CPU time of the requests thread spent making ranking examples (the "
                       "request as of the click, its features, the encoding)")
                 .Register(*MetricsRegistry())
                 .Add({})),
        ranked_(prometheus::BuildCounter()
                    .Name("streamrec_serving_ranker_examples_ranked_total")
                    .Help("Ranking examples published whose request the served model version's ranker "
                          "reordered (serving.ranker.enabled and a version with ranker.bin)")
                    .Register(*MetricsRegistry())
                    .Add({})) {}

  static prometheus::Family<prometheus::Counter>& Family() {
    return prometheus::BuildCounter()
        .Name("streamrec_serving_ranker_examples_total")
        .Help("Sampled live clicks by what became of their ranking example: published (handed to the "
              "producer), not_candidate (the clicked item was not among the candidates), failed "
              "(not enqueued or not delivered)")
        .Register(*MetricsRegistry());
  }

  static double ThreadCpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }

  void LogFailureOnce(const Status& st) {
    if (logged_failure_.exchange(true)) return;
    spdlog::warn("[serving] a ranking example was not published on {} (counted in "
                 "streamrec_serving_ranker_examples_total{{result=\"failed\"}}; further failures not logged): {}",
                 topic_, st.ToString());
  }

  const std::string topic_;
  const double rate_;
  std::atomic<int64_t>& published_;
  std::atomic<int64_t>& not_candidate_;
  prometheus::Counter& published_metric_;
  prometheus::Counter& not_candidate_metric_;
  prometheus::Counter& failed_;
  prometheus::Counter& cpu_;
  prometheus::Counter& ranked_;
  std::atomic<bool> logged_failure_{false};
  RankerCapture capture_;  // reused: its vectors keep their capacity
  std::unique_ptr<KafkaProducer> producer_;
};

// The request stage as a processor-managed topology on clicks + rec-requests
// (co-partitioned by user). Clicks rebuild this replica's in-memory recent windows, so
// on every assignment a clicks partition is re-read from the offset of the topic's
// newest click's time − lookback (or its beginning; ServingOperatorOptions::
// windows_lookback_ms); rec-requests start at the group's committed offset. The requests of one poll are answered after its clicks
// (a request sees the clicks that arrived with it) on up to `threads` threads, and the
// answers forwarded in order. Runs on the runner's (requests) thread.
class RequestProcessor : public runtime::Processor {
 public:
  // `on_assignment`: called with the clicks partitions owned after each change (may be
  // empty). `lookback_ms` > 0: windows rebuilt from the clicks stamped at most
  // lookback_ms before the topic's newest one (ServingOperatorOptions::
  // windows_lookback_ms), `lookup` the consumer options of the group-less consumer that
  // reads the newest records and looks offsets up by time; `skipped` counts the clicks
  // read and skipped as older.
  RequestProcessor(const TopicNames& topics, RecommendationService* service, int threads,
                   std::atomic<int64_t>* answered,
                   std::function<void(std::vector<int32_t>)> on_assignment, int64_t lookback_ms,
                   ConsumerOptions lookup, std::atomic<int64_t>* skipped,
                   RankingExamples* ranking_examples)
      : topics_(topics),
        service_(*service),
        threads_(std::max(1, threads)),
        answered_(*answered),
        on_assignment_(std::move(on_assignment)),
        lookback_ms_(lookback_ms),
        lookup_options_(std::move(lookup)),
        skipped_(*skipped),
        ranking_examples_(ranking_examples),
        freshness_(prometheus::BuildHistogram()
                       .Name("streamrec_serving_freshness_seconds")
                       .Help("Age of a click (its Kafka timestamp) when the serving stage "
                             "applies it to the user's window: how stale answers are")
                       .Register(*MetricsRegistry())
                       .Add({}, LatencyBuckets())) {}

  Status Init(runtime::ProcessorContext* context) override {
    context_ = context;
    context->Schedule(1, runtime::PunctuationType::kWallClock, [this](int64_t) { return AnswerPending(); });
    return Status::Ok();
  }

  Status Process(const Record& r) override {
    if (r.topic == topics_.clicks) {
      if (BeforeLookback(r)) {
        skipped_.fetch_add(1, std::memory_order_relaxed);
        return Status::Ok();  // not part of the rebuilt windows
      }
      ClickParseResult parsed = parser_.Parse(r.value);
      if (!parsed.ok()) return Status::Ok();  // the user stage routes it to the DLQ
      // The ranker's example: the list as of just before this click, made only for live
      // clicks (not those re-read to rebuild the windows).
      if (ranking_examples_ != nullptr && !Rebuilding(r)) {
        ranking_examples_->OnLiveClick(service_, parsed.event);
      }
      service_.history().Record(parsed.event.user_key, parsed.event.item_key, parsed.event.item_id,
                                parsed.event.ts_ms, parsed.event.event);
      service_.recent_users().Add(parsed.event.user_id);
      // Freshness is measured on clicks stamped with a wall-clock time; one stamped in
      // the future (the generator's simulated event time runs ahead) says nothing.
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      if (r.timestamp_ms > 0 && r.timestamp_ms <= now_ms) {
        freshness_.Observe(static_cast<double>(now_ms - r.timestamp_ms) / 1000.0);
      }
    } else if (r.topic == topics_.rec_requests) {
      pending_.push_back(Request{r.key, r.value});
    }
    return Status::Ok();
  }

  Status Flush(bool /*closing*/) override { return AnswerPending(); }

  std::optional<int64_t> StartOffset(const std::string& topic, int32_t partition) override {
    if (topic != topics_.clicks) return std::nullopt;
    rebuilds_.erase(partition);
    if (lookback_ms_ <= 0) return kOffsetBeginning;
    if (lookup_ == nullptr) {
      Result<std::unique_ptr<KafkaConsumer>> created = KafkaConsumer::Create(lookup_options_);
      if (!created.ok()) {
        spdlog::warn("[serving] offsets-for-times consumer: {}; windows from the start", created.status().ToString());
        return kOffsetBeginning;
      }
      lookup_ = std::move(created).value();
    }
    Result<std::pair<int64_t, int64_t>> marks = lookup_->QueryWatermarks(topic, partition, kLookupTimeoutMs);
    if (!marks.ok()) {
      spdlog::warn("[serving] {}:{}: watermarks: {}; windows rebuilt from the partition's start", topic, partition,
                   marks.status().ToString());
      return kOffsetBeginning;
    }
    if (marks->second <= marks->first) return kOffsetBeginning;  // empty: every click is live
    // The range is measured back from the newest click of the topic (every partition,
    // so a quiet partition is bounded by the stream's time too), not from the wall clock:
    // a replayed history (MovieLens' 1998 timestamps) keeps its last windows_lookback_ms.
    // Read once per assignment; where no record can be read back, the wall clock.
    if (!topic_newest_) {
      topic_newest_ = NewestTimestamp(topic);
      if (!topic_newest_->has_value()) {
        spdlog::warn("[serving] {}: no record read back from the partitions' ends; the lookback measured from now",
                     topic);
      }
    }
    const std::optional<int64_t> newest = *topic_newest_;
    const int64_t since = newest.value_or(NowMs()) - lookback_ms_;
    rebuilds_[partition] = Rebuild{since, marks->second};
    auto own = partition_newest_.find(partition);
    if (newest && own != partition_newest_.end() && own->second < since) {
      spdlog::info("[serving] {}:{}: no click since {} (the newest at {}); no windows rebuilt", topic, partition,
                   since, own->second);
      return marks->second;
    }
    // The first offset at or after newest − lookback. The broker answers kOffsetEnd when
    // no record is that recent, and for every lookup where it has no time index (the
    // embedded broker): read the partition from its start then (the clicks before the
    // lookback are skipped in Process either way).
    Result<std::vector<TopicPartitionOffset>> found =
        lookup_->OffsetsForTimes({{topic, partition, since}}, kLookupTimeoutMs);
    if (!found.ok() || found->empty() || (*found)[0].offset < 0) {
      spdlog::info("[serving] {}:{}: no offset for time {} ({}); windows rebuilt from the partition's start, "
                   "clicks before it skipped",
                   topic, partition, since, found.ok() ? "none answered" : found.status().ToString());
      return kOffsetBeginning;
    }
    spdlog::info("[serving] {}:{}: windows rebuilt from offset {} of [{}, {}) (clicks since {}, the newest at {})",
                 topic, partition, (*found)[0].offset, marks->first, marks->second, since, newest.value_or(-1));
    return (*found)[0].offset;
  }

  void OnAssignmentChanged(const std::vector<TopicPartitionOffset>& assigned) override {
    topic_newest_.reset();  // read again at the next assignment
    partition_newest_.clear();
    if (!on_assignment_) return;
    std::vector<int32_t> clicks;
    for (const TopicPartitionOffset& tp : assigned) {
      if (tp.topic == topics_.clicks) clicks.push_back(tp.partition);
    }
    std::sort(clicks.begin(), clicks.end());
    on_assignment_(std::move(clicks));
  }

 private:
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  struct Request {
    std::string key;
    std::string value;
  };

  // The rebuild of one clicks partition's windows after its assignment: the clicks below
  // `end` (the high watermark then) stamped before `since_ms` are skipped; the clicks
  // produced after the assignment are all applied, whatever their time.
  struct Rebuild {
    int64_t since_ms = 0;
    int64_t end = 0;
  };
  static constexpr int kLookupTimeoutMs = 5000;
  // The newest timestamp is the largest of the last kTailRecords records of each
  // partition (a single last offset may be a transaction marker, and timestamps need not
  // be monotonic).
  static constexpr int64_t kTailRecords = 32;

  // A click below its partition's end offset as of the assignment: re-read to rebuild
  // the windows, not a live one.
  bool Rebuilding(const Record& r) const {
    auto it = rebuilds_.find(r.partition);
    return it != rebuilds_.end() && r.offset < it->second.end;
  }

  bool BeforeLookback(const Record& r) const {
    auto it = rebuilds_.find(r.partition);
    return it != rebuilds_.end() && r.offset < it->second.end && r.timestamp_ms > 0 &&
           r.timestamp_ms < it->second.since_ms;
  }

  // The largest timestamp among the last kTailRecords records of each partition of
  // `topic`, read through lookup_ (group-less); nullopt when none was read within
  // kLookupTimeoutMs (or the topic is empty).
  std::optional<int64_t> NewestTimestamp(const std::string& topic) {
    Result<int> partitions = lookup_->PartitionCount(topic, kLookupTimeoutMs);
    if (!partitions.ok()) return std::nullopt;
    std::vector<TopicPartitionOffset> tails;
    std::unordered_map<int32_t, int64_t> ends;  // partition -> its high watermark
    for (int32_t p = 0; p < *partitions; ++p) {
      Result<std::pair<int64_t, int64_t>> marks = lookup_->QueryWatermarks(topic, p, kLookupTimeoutMs);
      if (!marks.ok() || marks->second <= marks->first) continue;
      tails.push_back({topic, p, std::max(marks->first, marks->second - kTailRecords)});
      ends[p] = marks->second;
    }
    partition_newest_.clear();
    if (tails.empty() || !lookup_->Assign(tails).ok()) return std::nullopt;
    std::optional<int64_t> newest;
    std::unordered_map<int32_t, int64_t> next;  // partition -> next offset, once one was read
    std::vector<Record> records;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLookupTimeoutMs);
    while (!ends.empty() && std::chrono::steady_clock::now() < deadline) {
      records.clear();
      if (!lookup_->PollBatch(256, 100, &records).ok()) break;
      for (const Record& r : records) {
        if (r.topic != topic) continue;
        if (r.timestamp_ms > 0) {
          newest = std::max(newest.value_or(r.timestamp_ms), r.timestamp_ms);
          auto [it, added] = partition_newest_.emplace(r.partition, r.timestamp_ms);
          if (!added) it->second = std::max(it->second, r.timestamp_ms);
        }
        next[r.partition] = r.offset + 1;
        auto end = ends.find(r.partition);
        if (end != ends.end() && r.offset + 1 >= end->second) ends.erase(end);
      }
      // A transaction marker at a partition's end is never delivered: once every
      // partition gave a record and a poll brings nothing, nothing more is coming.
      if (records.empty() && next.size() == tails.size()) break;
    }
    (void)lookup_->Unassign();
    return newest;
  }

  Status AnswerPending() {
    if (pending_.empty()) return Status::Ok();
    std::vector<std::string> responses(pending_.size());
    const size_t workers = std::min<size_t>(static_cast<size_t>(threads_), pending_.size());
    if (workers <= 1) {
      for (size_t i = 0; i < pending_.size(); ++i) responses[i] = service_.HandleRequestMessage(pending_[i].value);
    } else {
      std::vector<std::thread> pool;
      for (size_t w = 0; w < workers; ++w) {
        pool.emplace_back([&, w] {
          for (size_t i = w; i < pending_.size(); i += workers) {
            responses[i] = service_.HandleRequestMessage(pending_[i].value);
          }
        });
      }
      for (auto& t : pool) t.join();
    }
    for (size_t i = 0; i < pending_.size(); ++i) {
      runtime::OutputRecord out;
      out.topic = topics_.recommendations;
      out.key = std::move(pending_[i].key);
      out.value = std::move(responses[i]);
      context_->Forward(std::move(out));
    }
    answered_.fetch_add(static_cast<int64_t>(pending_.size()));
    pending_.clear();
    return Status::Ok();
  }

  const TopicNames& topics_;
  RecommendationService& service_;
  const int threads_;
  std::atomic<int64_t>& answered_;
  std::function<void(std::vector<int32_t>)> on_assignment_;
  const int64_t lookback_ms_;
  const ConsumerOptions lookup_options_;
  std::atomic<int64_t>& skipped_;
  RankingExamples* ranking_examples_;  // null: none made
  std::unique_ptr<KafkaConsumer> lookup_;  // offsets for times, created on first use
  std::unordered_map<int32_t, Rebuild> rebuilds_;  // by clicks partition, since its assignment
  // The newest click's time, read at the first StartOffset of an assignment (inner
  // nullopt: none could be read).
  std::optional<std::optional<int64_t>> topic_newest_;
  std::unordered_map<int32_t, int64_t> partition_newest_;  // the same, by partition (those read)
  prometheus::Histogram& freshness_;
  runtime::ProcessorContext* context_ = nullptr;
  ClickEventParser parser_;
  std::vector<Request> pending_;
};

}  // namespace

ServingOperator::ServingOperator(Options options, EventSink sink)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      service_(std::make_unique<RecommendationService>(options_.service)) {}

ServingOperator::~ServingOperator() { Stop(); }

Status ServingOperator::ProduceEvents(const std::vector<ClickEvent>& events) {
  std::vector<std::string> values;
  values.reserve(events.size());
  std::vector<ProduceMessage> messages(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    values.push_back(EncodeClickEvent(events[i]));
    messages[i].topic = options_.topics.clicks;
    messages[i].key = events[i].user_id;
    messages[i].value = values.back();
    messages[i].timestamp_ms = events[i].ts_ms;
  }
  // 202 means durable: wait for Kafka's acknowledgement of every event (bounded).
  return producer_->SendAndWait(messages, options_.events_ack_timeout_ms);
}

Status ServingOperator::Start() {
  if (started_) return Status::FailedPrecondition("serving operator already started");
  if (options_.brokers.empty() && options_.kafka.count("bootstrap.servers") == 0) {
    return Status::InvalidArgument("serving operator needs Kafka brokers");
  }
  ProducerOptions popts;
  popts.brokers = options_.brokers;
  popts.properties = options_.kafka;
  popts.properties.emplace("message.timeout.ms", std::to_string(options_.events_ack_timeout_ms));
  popts.stop = [this] { return stop_.load(); };  // Stop() does not wait on a dead broker
  Result<std::unique_ptr<AckedProducer>> producer = AckedProducer::Create(popts);
  if (!producer.ok()) return producer.status().WithContext("serving producer");
  producer_ = std::move(producer).value();

  if (options_.serve_http) {
    EventSink sink = sink_;
    if (!sink) {
      sink = [this](const std::vector<ClickEvent>& events) { return ProduceEvents(events); };
    }
    HttpApiOptions http_options = options_.http;
    if (options_.routing && options_.answer_kafka_requests) {
      members_ = std::make_unique<ServingMembers>();
      http_options.members = members_.get();
      http_options.forward_timeout_ms = options_.forward_timeout_ms;
    }
    http_options.stats.snapshot.input_topic = options_.topics.clicks;
    http_options.stats.snapshot.model_component = service_->options().models.component;
    http_ = std::make_unique<HttpApi>(std::move(http_options), service_.get(), std::move(sink));
    Status st = http_->Start();
    if (!st.ok()) {
      http_.reset();
      members_.reset();
      producer_.reset();
      return st;
    }
    if (members_ != nullptr) {
      advertised_http_ = options_.advertised_http;
      if (advertised_http_.empty()) {
        std::string host = options_.http.host;
        if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
          char name[256] = {0};
          host = gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0' ? name : "localhost";
        }
        advertised_http_ = host + ":" + std::to_string(http_->port());
      }
      members_->SetSelf(options_.replica_id.empty() ? advertised_http_ : options_.replica_id);
      spdlog::info("[serving] routing by user: replica {} at {} (members topic {})", members_->self_id(),
                   advertised_http_, options_.topics.serving_members);
    }
  }
  stop_.store(false);
  // Ready only once each input was read to its end offsets (Readiness in
  // recommendation_service.h); the loops say when.
  service_->SetTablesLoaded(false);
  service_->SetModelsLoaded(false);
  service_->SetWindowsLoaded(!options_.answer_kafka_requests);
  tables_thread_ = std::thread([this] {
    // The first POST /v1/events would otherwise wait about a second for the producer to
    // learn the clicks topic's leaders (the storefront's first click). Best effort:
    // bounded, and an error here shows again, with its cause, on the first produce.
    if (http_ != nullptr) {
      Result<int> partitions = producer_->producer().PartitionCount(options_.topics.clicks, 2000);
      if (!partitions.ok()) spdlog::debug("[serving] events producer: {}", partitions.status().ToString());
    }
    TablesLoop();
  });
  models_thread_ = std::thread([this] { ModelsLoop(); });
  if (options_.answer_kafka_requests) requests_thread_ = std::thread([this] { RequestsLoop(); });
  tombstoned_.store(false);
  leaving_.store(false);
  requests_left_.store(false);
  if (members_ != nullptr) members_thread_ = std::thread([this] { MembershipLoop(); });
  started_ = true;
  return Status::Ok();
}

void ServingOperator::Fail(const std::string& loop, const Status& st) {
  {
    MutexLock lock(&error_mu_);
    if (!error_.ok()) return;
    error_ = st.WithContext("serving " + loop + " loop");
    spdlog::error("[serving] {}", error_.ToString());
  }
  failed_.store(true);
  stop_.store(true);  // the other loops end too: the operator is down, its owner exits
}

Status ServingOperator::error() const {
  MutexLock lock(&error_mu_);
  return error_;
}

Status ServingOperator::Run(const std::function<bool()>& stop) {
  if (!started_) STREAMREC_RETURN_IF_ERROR(Start());
  while (!stop() && !failed_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Stop();
  return error();
}

int ServingOperator::RemainingStopMs(int cap) const {
  const int64_t deadline = stop_deadline_ms_.load();
  if (deadline == 0) return cap;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  return static_cast<int>(std::clamp<int64_t>(deadline - now, 0, cap));
}

void ServingOperator::Stop() {
  if (!started_) return;
  stop_deadline_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count() +
                          kShutdownBoundMs);
  if (members_thread_.joinable()) {
    // A clean leave (routing): the request loop leaves the group first while this replica
    // still answers; the members loop keeps claiming its partitions until their next
    // owners announced themselves with their windows loaded (or leave_grace_ms), then
    // writes the tombstone.
    leaving_.store(true);
    if (requests_thread_.joinable()) requests_thread_.join();
    requests_left_.store(true);
    members_thread_.join();
  }
  stop_.store(true);
  if (tombstoned_.load() && http_ != nullptr) {
    // Requests already on their way here (forwarded before the tombstone arrived).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (http_ != nullptr) http_->Stop();
  for (std::thread* t : {&tables_thread_, &requests_thread_, &models_thread_}) {
    if (t->joinable()) t->join();
  }
  if (producer_ != nullptr) {
    Status st = producer_->producer().Flush(RemainingStopMs(10000));
    if (!st.ok()) spdlog::warn("[serving] flushing producer: {}", st.ToString());
    producer_.reset();
  }
  started_ = false;
}

bool ServingOperator::Announce(bool leaving, const std::vector<int32_t>& partitions) {
  const std::string self = members_->self_id();
  std::string value;
  ProduceMessage message;
  message.topic = options_.topics.serving_members;
  message.key = self;
  if (!leaving) {
    ServingMember m;
    m.replica_id = self;
    m.http_address = advertised_http_;
    m.partitions = partitions;
    m.partition_count = clicks_partitions_;
    m.generation = ++generation_;
    m.windows_loaded = service_->GetReadiness().windows_loaded;
    m.announced_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    value = EncodeServingMember(m);
    message.value = value;  // a leave keeps the null value: a tombstone
  }
  // A leave is bounded tighter, by what is left of the shutdown's bound too: a dead broker
  // must not hold up the stop.
  const int timeout_ms = leaving ? RemainingStopMs(2000) : 5000;
  if (leaving && timeout_ms == 0) {
    spdlog::warn("[serving] replica {} not announced as leaving on {}: the shutdown's {} ms are spent (the "
                 "partitions' next owners win with their newer announcements; until then a request forwarded here "
                 "times out and is answered where it arrived)",
                 self, options_.topics.serving_members, kShutdownBoundMs);
    return false;
  }
  Status st = producer_->SendAndWait({message}, timeout_ms);
  if (!st.ok()) {
    spdlog::warn("[serving] announcing replica {} on {}: {}", self, options_.topics.serving_members, st.ToString());
    return false;
  }
  // Our own view follows at once (the topic brings it back too).
  Status applied = members_->Apply(self, leaving ? std::nullopt : std::optional<std::string_view>(value));
  if (!applied.ok()) spdlog::warn("[serving] own announcement: {}", applied.ToString());
  return true;
}

// Routing (serving/README.md "Routing"): reads every replica's announcement into
// members_ and announces this one when its assignment or readiness changed (once settled),
// every members_announce_interval_ms, and with a tombstone on a clean stop.
void ServingOperator::MembershipLoop() {
  while (!stop_.load() && clicks_partitions_ <= 0) {
    Result<int> n = producer_->producer().PartitionCount(options_.topics.clicks, 2000);
    if (n.ok() && *n > 0) {
      clicks_partitions_ = *n;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  runtime::TableReaderOptions to;
  to.brokers = options_.brokers;
  to.properties = options_.kafka;
  to.topics = {options_.topics.serving_members};
  to.name = "serving-members";
  to.fetch_wait_ms = 10;  // routing follows a rebalance within seconds
  Result<std::unique_ptr<runtime::TableReader>> created = runtime::TableReader::Create(to);
  if (!created.ok()) return Fail("members", created.status());
  runtime::TableReader& reader = **created;
  Status st = reader.Start([this] { return stop_.load(); });
  if (!st.ok()) {
    if (!stop_.load()) Fail("members", st);
    return;
  }
  using SteadyClock = std::chrono::steady_clock;
  // What was announced last (partitions, readiness), and the assignment as last seen.
  std::optional<std::vector<int32_t>> published;
  bool published_loaded = false;
  std::vector<int32_t> current;
  int64_t seen_changes = 0;
  auto changed_at = SteadyClock::now();
  auto next_heartbeat = SteadyClock::now();
  SteadyClock::time_point leave_deadline;
  SteadyClock::time_point handover_started;
  std::vector<Record> batch;
  while (!stop_.load()) {
    batch.clear();
    Result<size_t> got = reader.Poll(50, &batch);
    if (!got.ok()) return Fail("members", got.status());
    for (const Record& r : batch) {
      std::optional<std::string_view> value;
      if (!r.value.empty()) value = r.value;
      Status applied = members_->Apply(r.key, value);
      if (!applied.ok()) {
        spdlog::warn("[serving] {}:{}@{}: {}; skipped", r.topic, r.partition, r.offset, applied.ToString());
      }
    }
    const auto now = SteadyClock::now();
    {
      MutexLock lock(&assignment_mu_);
      if (assignment_changes_ != seen_changes) {
        seen_changes = assignment_changes_;
        current = assignment_;
        changed_at = now;
      }
    }
    if (leaving_.load()) {
      // Handing over: the partitions stay claimed (the windows are still here) until
      // another member owns each of them, or the grace runs out; alone, no one takes over.
      if (!requests_left_.load()) continue;
      if (leave_deadline == SteadyClock::time_point()) {
        leave_deadline = now + std::chrono::milliseconds(options_.leave_grace_ms);
        handover_started = now;
      }
      bool handed_over = members_->Members().size() <= 1;
      if (!handed_over && published) {
        handed_over = true;
        for (int32_t p : *published) handed_over = handed_over && members_->OwnerOf(p) != members_->self_id();
      }
      if (handed_over || now >= leave_deadline) {
        // The handover has its own bound (leave_grace_ms): it does not count against the
        // shutdown's, so the tombstone below still has its time after a long handover.
        stop_deadline_ms_.fetch_add(
            std::chrono::duration_cast<std::chrono::milliseconds>(now - handover_started).count());
        break;
      }
      continue;
    }
    if (seen_changes == 0) continue;  // no assignment yet: nothing to announce
    // What to announce: the assignment once it held members_settle_ms; a change that
    // only takes partitions away waits members_removal_settle_ms, because a rebalance
    // revokes before it assigns (eager: everything): until the next owner announces, the
    // old owner's claim sends requests to a replica that still holds the windows.
    std::vector<int32_t> wanted = published.value_or(std::vector<int32_t>());
    const bool only_removals =
        published && std::includes(published->begin(), published->end(), current.begin(), current.end());
    const int settle_ms = only_removals ? std::max(options_.members_settle_ms, options_.members_removal_settle_ms)
                                        : options_.members_settle_ms;
    if (!published || now - changed_at >= std::chrono::milliseconds(settle_ms)) wanted = current;
    const bool loaded = service_->GetReadiness().windows_loaded;
    const bool due = !published || wanted != *published || loaded != published_loaded || now >= next_heartbeat;
    if (due && Announce(/*leaving=*/false, wanted)) {
      published = wanted;
      published_loaded = loaded;
      next_heartbeat = now + std::chrono::milliseconds(options_.members_announce_interval_ms);
    }
  }
  if (generation_ > 0) tombstoned_.store(Announce(/*leaving=*/true));
  (void)reader.Close();
}

void ServingOperator::TablesLoop() {
  runtime::TableReaderOptions to;
  to.brokers = options_.brokers;
  to.properties = options_.kafka;
  to.topics = {options_.topics.items, options_.topics.item_neighbors, options_.topics.item_stats};
  to.name = "serving-tables";
  // Table updates feed freshness (DESIGN §3): don't sit on librdkafka's 500 ms default.
  to.fetch_wait_ms = options_.table_fetch_wait_ms;
  to.max_poll_records = options_.max_batch;
  Result<std::unique_ptr<runtime::TableReader>> created = runtime::TableReader::Create(to);
  if (!created.ok()) return Fail("tables", created.status());
  runtime::TableReader& reader = **created;
  Status st = reader.Start([this] { return stop_.load(); });
  if (!st.ok()) {
    if (!stop_.load()) Fail("tables", st);
    return;
  }
  std::vector<Record> batch;
  // Kafka reachability for /readyz: a metadata request every 2 s (answered at once while
  // the broker is up; at most 1 s of this loop while it is down, when no table record
  // arrives anyway).
  auto next_probe = std::chrono::steady_clock::now();
  bool was_reachable = true;
  while (!stop_.load()) {
    if (std::chrono::steady_clock::now() >= next_probe) {
      const bool reachable = reader.ProbeBroker(1000).ok();
      if (reachable != was_reachable) {
        was_reachable = reachable;
        if (reachable) {
          spdlog::info("[serving] Kafka reachable again");
        } else {
          spdlog::warn("[serving] Kafka unreachable: answering from the tables, windows and model it has");
        }
        service_->SetKafkaReachable(reachable);
      }
      next_probe = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }
    batch.clear();
    Result<size_t> got = reader.Poll(options_.poll_timeout_ms, &batch);
    if (!got.ok()) return Fail("tables", got.status());
    for (const Record& r : batch) {
      std::optional<std::string_view> value;
      if (!r.value.empty()) value = r.value;
      Status applied;
      if (r.topic == options_.topics.items) {
        applied = service_->catalog().Apply(r.key, value);
      } else if (r.topic == options_.topics.item_neighbors) {
        applied = service_->neighbors().Apply(r.key, value);
      } else if (r.topic == options_.topics.item_stats) {
        applied = service_->stats().Apply(r.key, value);
      }
      if (!applied.ok()) {
        spdlog::warn("[serving] {}:{}@{}: {}; skipped", r.topic, r.partition, r.offset,
                     applied.ToString());
      }
    }
    if (!batch.empty()) service_->Publish();
    if (reader.caught_up() && !service_->GetReadiness().tables_loaded) {
      service_->SetTablesLoaded(true);
      spdlog::info("[serving] global tables loaded");
    }
    if (options_.answer_kafka_requests) {
      std::shared_ptr<const runtime::CatchUpTracker> windows;
      {
        MutexLock lock(&catch_up_mu_);
        windows = windows_catch_up_;
      }
      const bool loaded = windows != nullptr && windows->caught_up();
      if (loaded != service_->GetReadiness().windows_loaded) {
        service_->SetWindowsLoaded(loaded);
        if (loaded) spdlog::info("[serving] user windows loaded (clicks read to their end offsets as of assignment)");
      }
    }
  }
  (void)reader.Close();
}

void ServingOperator::RequestsLoop() {
  runtime::Topology topology;
  topology.name = "serving";
  topology.source_topic = options_.topics.clicks;
  topology.co_source_topics = {options_.topics.rec_requests};
  topology.state_kind = runtime::StateKind::kProcessorManaged;
  // The ranker's examples: only where the ranker is on (docs/DESIGN.md "The ranking stage").
  std::unique_ptr<RankingExamples> ranking_examples;
  if (options_.service.recommender.ranker_enabled && options_.ranker_examples_rate > 0) {
    auto created = RankingExamples::Create(options_, &ranker_examples_published_, &ranker_examples_not_candidate_,
                                           [this] { return stop_.load() || leaving_.load(); });
    if (!created.ok()) return Fail("requests", created.status());
    ranking_examples = std::move(created).value();
    spdlog::info("[serving] ranking examples of {:.3g} of the live clicks published on {}",
                 std::min(1.0, options_.ranker_examples_rate), options_.topics.ranker_examples);
  }
  RankingExamples* examples = ranking_examples.get();
  topology.processor_supplier = [this, examples]() -> std::unique_ptr<runtime::Processor> {
    ConsumerOptions lookup;
    lookup.brokers = options_.brokers;
    lookup.properties = options_.kafka;
    lookup.lag_refresh_ms = 0;
    auto on_assignment = [this](std::vector<int32_t> clicks) {
      MutexLock lock(&assignment_mu_);
      assignment_ = std::move(clicks);
      ++assignment_changes_;
    };
    return std::make_unique<RequestProcessor>(options_.topics, service_.get(), options_.request_threads,
                                              &answered_, std::move(on_assignment), options_.windows_lookback_ms,
                                              std::move(lookup), &skipped_before_lookback_, examples);
  };
  runtime::StageRunnerOptions ro;
  ro.brokers = options_.brokers;
  ro.properties = options_.kafka;
  // Requests are latency-bound: don't let an empty fetch wait librdkafka's default
  // 500 ms (a user setting wins).
  ro.properties.emplace("fetch.wait.max.ms", std::to_string(options_.request_fetch_wait_ms));
  ro.group_id = options_.group_id;
  ro.commit_interval_ms = options_.commit_interval_ms;
  ro.max_poll_records = options_.max_batch;
  Result<std::unique_ptr<runtime::StageRunner>> runner = runtime::StageRunner::Create(topology, ro);
  if (!runner.ok()) return Fail("requests", runner.status());
  {
    MutexLock lock(&catch_up_mu_);
    windows_catch_up_ = (*runner)->catch_up();
  }
  Status st = (*runner)->Run([this] { return stop_.load() || leaving_.load(); });
  if (!st.ok()) Fail("requests", st);
}

// lambda.model batch: the batch layer's models. The versions announced on
// streamrec.batch (checked as the item stage checks them, batch::AdoptableView: inside
// lambda.batch_dir, files matching the manifest) reach the manager as model versions
// numbered as the batch versions; a version without a model is skipped.
void ServingOperator::BatchModelsLoop() {
  TwoTowerLoaderOptions loader = options_.loader;
  loader.serving = &service_->models();
  loader.model_store = options_.batch_dir;  // a model path must lie inside it
  ModelsTopicSource source(options_.service.models.component, loader, &service_->history());
  service_->models().ConnectSource(&source);
  batch::BatchViewFollowerOptions fo;
  fo.brokers = options_.brokers;
  fo.properties = options_.kafka;
  fo.topic = options_.topics.batch_views;
  fo.clicks_topic = options_.topics.clicks;
  fo.root = options_.batch_dir;
  auto inbox = std::make_shared<operators::BatchViewInbox>();
  auto follower = batch::BatchViewFollower::Start(fo, inbox);
  if (!follower.ok()) return Fail("batch models", follower.status());
  int64_t offered = 0;
  while (!stop_.load()) {
    std::shared_ptr<const operators::BatchViewRef> ref = inbox->Latest();
    if (ref && ref->version > offered) {
      offered = ref->version;
      if (ref->model_dir.empty()) {
        spdlog::warn("[serving] batch view v{} has no model (written with --no-model): the served model stays",
                     ref->version);
      } else {
        source.OfferVersion(ref->version, ref->created_ms,
                            std::make_unique<TwoTowerSnapshotLoader>(ref->model_dir, 0, "", loader,
                                                                     &service_->history()));
      }
    }
    if ((*follower)->caught_up() && !service_->GetReadiness().models_loaded) {
      service_->SetModelsLoaded(true);
      spdlog::info("[serving] batch views topic read (model version {}, lambda.model batch)",
                   service_->models().version());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_timeout_ms));
  }
  (*follower)->Stop();
}

void ServingOperator::ModelsLoop() {
  if (options_.serve_batch_model) return BatchModelsLoop();
  TwoTowerLoaderOptions loader = options_.loader;
  loader.serving = &service_->models();  // a new version must not fall behind the served one
  ModelsTopicSource source(options_.service.models.component, loader, &service_->history());
  service_->models().ConnectSource(&source);
  runtime::TableReaderOptions to;
  to.brokers = options_.brokers;
  to.properties = options_.kafka;
  to.topics = {options_.topics.models};
  to.name = "serving-models";
  to.max_poll_records = options_.max_batch;
  Result<std::unique_ptr<runtime::TableReader>> created = runtime::TableReader::Create(to);
  if (!created.ok()) return Fail("models", created.status());
  runtime::TableReader& reader = **created;
  Status st = reader.Start([this] { return stop_.load(); });
  if (!st.ok()) {
    if (!stop_.load()) Fail("models", st);
    return;
  }
  std::vector<Record> batch;
  while (!stop_.load()) {
    batch.clear();
    Result<size_t> got = reader.Poll(options_.poll_timeout_ms, &batch);
    if (!got.ok()) return Fail("models", got.status());
    if (!batch.empty()) source.OnBatch(batch);  // loads (or refuses) synchronously
    if (reader.caught_up() && !service_->GetReadiness().models_loaded) {
      service_->SetModelsLoaded(true);
      spdlog::info("[serving] models topic read (model version {})", service_->models().version());
    }
  }
  (void)reader.Close();
}

}  // namespace streamrec::serving
