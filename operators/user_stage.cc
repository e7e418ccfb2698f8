#include "operators/user_stage.h"

#include <chrono>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "core/byte_codec.h"
#include "core/metrics.h"
#include "core/records.h"
#include "operators/training_example.h"
#include "state/encoding.h"
#include "streams/click_event.h"
#include "streams/dead_letter_queue.h"

namespace streamrec::operators {
namespace {

using runtime::OutputRecord;
using runtime::Processor;
using runtime::ProcessorContext;
using runtime::PunctuationType;
using runtime::StoreSpec;
using runtime::Topology;

struct UserStageMetrics {
  prometheus::Counter* events;
  prometheus::Counter* pairs;
  prometheus::Counter* delta_messages;
  prometheus::Histogram* flush_seconds;
};

UserStageMetrics& Metrics() {
  static UserStageMetrics m = [] {
    auto registry = MetricsRegistry();
    auto& events = prometheus::BuildCounter()
                       .Name("streamrec_operators_events_total")
                       .Help("Valid events applied by a stage")
                       .Register(*registry);
    auto& pairs = prometheus::BuildCounter()
                      .Name("streamrec_operators_pairs_total")
                      .Help("Co-occurrence pair updates formed (before pre-aggregation)")
                      .Register(*registry);
    auto& msgs = prometheus::BuildCounter()
                     .Name("streamrec_operators_delta_messages_total")
                     .Help("Pre-aggregated cooc-delta messages forwarded")
                     .Register(*registry);
    auto& flush = prometheus::BuildHistogram()
                      .Name("streamrec_flush_seconds")
                      .Help("Time to flush a stage's in-memory aggregates into its commit")
                      .Register(*registry);
    return UserStageMetrics{&events.Add({{"stage", "user"}}), &pairs.Add({{"stage", "user"}}),
                            &msgs.Add({{"stage", "user"}}),
                            &flush.Add({{"stage", "user"}}, LatencyBuckets())};
  }();
  return m;
}

class UserStageProcessor : public Processor {
 public:
  static constexpr size_t kMaxCachedWindows = 200000;

  explicit UserStageProcessor(const UserStageOptions& options) : options_(options) {}

  Status Init(ProcessorContext* context) override {
    context_ = context;
    windows_ = context->GetStore<state::KeyValueStore>(kWindowsStore);
    peer_counts_ = context->GetStore<state::KeyValueStore>(kPeerCountsStore);
    if (windows_ == nullptr || peer_counts_ == nullptr) return Status::Internal("user stage: missing store");
    if (options_.item_partitions < 1) return Status::InvalidArgument("user stage: item_partitions < 1");
    context->Schedule(options_.flush_interval_ms, PunctuationType::kWallClock,
                      [this](int64_t) {
                        context_->Commit();
                        return Status::Ok();
                      });
    return Status::Ok();
  }

  Status Process(const Record& record) override {
    ClickParseResult parsed = parser_.Parse(record.value);
    if (!parsed.ok()) {
      Reject(record, parsed.reason, parsed.detail);
      return Status::Ok();
    }
    const ClickEvent& e = parsed.event;
    std::string ahead;
    if (CheckNotAhead(e.ts_ms, context_->clock().NowMillis(), options_.max_future_ms, &ahead) !=
        RejectReason::kNone) {
      Reject(record, RejectReason::kBadTimestamp, ahead);
      return Status::Ok();
    }
    auto window = LoadWindow(e.user_key);
    if (!window.ok()) return window.status();
    UserWindow& w = **window;
    w.EvictOlderThan(e.ts_ms);
    const double weight = options_.cooc.weights.Of(e.event);
    uint64_t pairs = 0;
    GeneratePairs(w.entries(), e.item_key, e.ts_ms, e.event, options_.cooc,
                  [this, &pairs](uint64_t a, uint64_t b, double wt) {
                    aggregator_.AddPair(a, b, wt);
                    ++pairs;
                  });
    for (const auto& entry : w.entries()) aggregator_.NoteId(entry.item_key, entry.item_id);
    aggregator_.AddEvent(e.item_key, e.item_id, weight, e.ts_ms);
    if (options_.emit_training_examples) {
      OutputRecord out;
      out.topic = options_.topics.training_examples;
      out.key = e.user_id;
      out.value = EncodeTrainingExample(MakeTrainingExample(e, w, weight));
      out.timestamp_ms = e.ts_ms;
      context_->Forward(std::move(out));
    }
    w.Add(e.item_key, e.item_id, e.ts_ms, e.event);
    dirty_.insert(e.user_key);
    Metrics().events->Increment();
    Metrics().pairs->Increment(static_cast<double>(pairs));
    // Replaying after a lost store (DESIGN §3, "Epochs"): downstream may have applied this
    // event under the previous epoch, and can only keep or drop a message whole, so this
    // event's deltas (peer counts included) leave in messages of their own.
    if (context_->replaying()) return Emit(/*peers_due=*/true);
    return Status::Ok();
  }

  Status Flush(bool closing) override {
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t user : dirty_) {
      windows_->Put(state::Key64(user), cache_.at(user).Serialize());
    }
    dirty_.clear();
    // This processor is the only writer of its windows, so the cache stays valid across
    // commits; it is bounded by dropping it whole when it grows too large.
    if (cache_.size() > kMaxCachedWindows) cache_.clear();
    const int64_t now = context_->clock().NowMillis();
    STREAMREC_RETURN_IF_ERROR(Emit(closing || now - last_peer_ms_ >= options_.peer_count_interval_ms));
    Metrics().flush_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return Status::Ok();
  }

 private:
  // Drains the aggregated deltas into cooc-delta messages, one or more per item partition;
  // `peers_due`: the pending peer counts go too.
  Status Emit(bool peers_due) {
    const int64_t now = context_->clock().NowMillis();
    std::vector<ItemCountDelta> flush_counts;
    auto per_partition =
        aggregator_.Drain(options_.item_partitions, options_.max_pairs_per_message, &flush_counts);
    // Peer counts are kept in the store between sends, so a crash loses none of them.
    if (options_.item_partitions > 1) {
      if (peers_due) {
        last_peer_ms_ = now;
        STREAMREC_RETURN_IF_ERROR(AttachPeerCounts(flush_counts, &per_partition));
      } else {
        STREAMREC_RETURN_IF_ERROR(StorePeerCounts(flush_counts));
      }
    }
    {
      for (int32_t p = 0; p < static_cast<int32_t>(per_partition.size()); ++p) {
        for (const auto& m : per_partition[static_cast<size_t>(p)]) {
          OutputRecord out;
          out.topic = options_.topics.cooc_deltas;
          out.partition = p;
          // Key: the first item the message carries pairs for (or counts), so keyed
          // consumers see an item id; routing is by ItemPartition, set explicitly.
          out.key = m.ids.empty() ? std::string() : m.ids.front().second;
          out.value = EncodeCoocDeltaMessage(m);
          context_->Forward(std::move(out));
          Metrics().delta_messages->Increment();
        }
      }
    }
    return Status::Ok();
  }

  static std::string EncodeCount(const ItemCountDelta& c) {
    ByteWriter w;
    w.Put<double>(c.weight);
    w.Put<uint64_t>(c.occurrences);
    w.Put<int64_t>(c.last_ts_ms);
    return w.Take();
  }
  static bool DecodeCount(std::string_view bytes, ItemCountDelta* c) {
    ByteReader r(bytes);
    return r.Get(&c->weight) && r.Get(&c->occurrences) && r.Get(&c->last_ts_ms) && r.AtEnd();
  }

  // Adds this flush's count deltas to the pending peer counts.
  Status StorePeerCounts(const std::vector<ItemCountDelta>& counts) {
    for (const auto& c : counts) {
      const std::string key = state::Key64(c.item_key);
      auto existing = peer_counts_->Get(key);
      if (!existing.ok()) return existing.status();
      ItemCountDelta sum = c;
      if (existing->has_value()) {
        ItemCountDelta old;
        if (!DecodeCount(**existing, &old)) return Status::Corruption("user stage: bad peer count");
        sum.weight += old.weight;
        sum.occurrences += old.occurrences;
        sum.last_ts_ms = std::max(sum.last_ts_ms, old.last_ts_ms);
      }
      peer_counts_->Put(key, EncodeCount(sum));
    }
    return Status::Ok();
  }

  // Sends the pending peer counts plus this flush's to every partition that does not own
  // the item (in its first message of this flush), and clears them.
  Status AttachPeerCounts(const std::vector<ItemCountDelta>& flush_counts,
                          std::vector<std::vector<CoocDeltaMessage>>* per_partition) {
    STREAMREC_RETURN_IF_ERROR(StorePeerCounts(flush_counts));
    std::vector<ItemCountDelta> all;
    std::vector<std::string> keys;
    // Everything pending is committed except this flush's additions, which are in the
    // overlay: scan the committed entries, then read each key through the overlay.
    std::set<std::string> key_set;
    for (auto it = peer_counts_->ScanCommitted(); it->Valid(); it->Next()) key_set.emplace(it->key());
    for (const auto& c : flush_counts) key_set.insert(state::Key64(c.item_key));
    for (const auto& key : key_set) {
      auto v = peer_counts_->Get(key);
      if (!v.ok()) return v.status();
      if (!v->has_value() || key.size() != 8) continue;
      ItemCountDelta c;
      if (!DecodeCount(**v, &c)) return Status::Corruption("user stage: bad peer count");
      c.item_key = state::DecodeBigEndian64(key.data());
      all.push_back(c);
      peer_counts_->Delete(key);
    }
    if (all.empty()) return Status::Ok();
    const int32_t parts = options_.item_partitions;
    for (int32_t p = 0; p < parts; ++p) {
      auto& list = (*per_partition)[static_cast<size_t>(p)];
      if (list.empty()) {
        list.emplace_back();
        list.back().num_item_partitions = parts;
      }
      for (const auto& c : all) {
        if (ItemPartition(c.item_key, parts) != p) list.front().peer_counts.push_back(c);
      }
    }
    return Status::Ok();
  }

  Result<UserWindow*> LoadWindow(uint64_t user) {
    auto it = cache_.find(user);
    if (it != cache_.end()) return &it->second;
    auto bytes = windows_->Get(state::Key64(user));
    if (!bytes.ok()) return bytes.status();
    UserWindow w(options_.window);
    if (bytes->has_value()) {
      auto parsed = UserWindow::Parse(**bytes, options_.window);
      if (!parsed.ok()) return parsed.status().WithContext("user window");
      w = std::move(parsed).value();
    }
    return &cache_.emplace(user, std::move(w)).first->second;
  }

  void Reject(const Record& record, RejectReason reason, const std::string& detail) {
    OutputRecord out;
    out.topic = options_.topics.clicks_dlq;
    out.key = record.key;
    out.has_key = record.has_key;
    out.value = record.value;
    out.headers = record.headers;
    // The headers of streams/dead_letter_queue.h; the message goes through the outbox so
    // that it is sent exactly when the offset that consumed it is committed.
    out.headers.push_back({kRejectReasonHeader, RejectReasonName(reason)});
    out.headers.push_back({kRejectDetailHeader, detail.substr(0, 1024)});
    out.headers.push_back({kRejectSourceHeader, record.topic + "[" + std::to_string(record.partition) +
                                                    "]@" + std::to_string(record.offset)});
    // A message too big for the DLQ would fail the send at commit and stop this partition
    // for good (every restart retries it): its copy is cut to fit, with size and digest.
    FitDeadLetter(&out.key, &out.value, &out.headers);
    context_->Forward(std::move(out));
    CountRejection(reason);
  }

  UserStageOptions options_;
  ProcessorContext* context_ = nullptr;
  state::KeyValueStore* windows_ = nullptr;
  state::KeyValueStore* peer_counts_ = nullptr;
  ClickEventParser parser_;
  CoocAggregator aggregator_;
  std::unordered_map<uint64_t, UserWindow> cache_;
  std::unordered_set<uint64_t> dirty_;
  int64_t last_peer_ms_ = 0;
};

}  // namespace

Result<UserStageOptions> UserStageOptions::FromConfig(const Config& config) {
  UserStageOptions o;
  auto window = UserWindowOptions::FromConfig(config);
  if (!window.ok()) return window.status();
  o.window = *window;
  auto weights = EventWeights::FromConfig(config);
  if (!weights.ok()) return weights.status();
  o.cooc.weights = *weights;
  auto hl = config.GetDouble("operators.cooc.half_life_s", o.cooc.half_life_s);
  if (!hl.ok()) return hl.status();
  if (*hl < 0) return Status::InvalidArgument("operators.cooc.half_life_s must be >= 0");
  o.cooc.half_life_s = *hl;
  auto flush = config.GetInt("operators.flush_interval_ms", o.flush_interval_ms);
  if (!flush.ok()) return flush.status();
  if (*flush < 1) return Status::InvalidArgument("operators.flush_interval_ms must be >= 1");
  o.flush_interval_ms = *flush;
  auto parts = config.GetInt("operators.item_partitions", o.item_partitions);
  if (!parts.ok()) return parts.status();
  if (*parts < 0) return Status::InvalidArgument("operators.item_partitions must be >= 0");
  o.item_partitions = static_cast<int32_t>(*parts);
  auto peer = config.GetInt("operators.peer_count_interval_ms", o.peer_count_interval_ms);
  if (!peer.ok()) return peer.status();
  if (*peer < 0) return Status::InvalidArgument("operators.peer_count_interval_ms must be >= 0");
  o.peer_count_interval_ms = *peer;
  auto max_pairs = config.GetInt("operators.max_pairs_per_message", static_cast<int64_t>(o.max_pairs_per_message));
  if (!max_pairs.ok()) return max_pairs.status();
  if (*max_pairs < 1) return Status::InvalidArgument("operators.max_pairs_per_message must be >= 1");
  o.max_pairs_per_message = static_cast<size_t>(*max_pairs);
  auto future = config.GetInt("operators.max_future_ms", o.max_future_ms);
  if (!future.ok()) return future.status();
  if (*future < 0) return Status::InvalidArgument("operators.max_future_ms must be >= 0");
  o.max_future_ms = *future;
  auto ex = config.GetBool("operators.training_examples", o.emit_training_examples);
  if (!ex.ok()) return ex.status();
  o.emit_training_examples = *ex;
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  o.topics = *topics;
  return o;
}

runtime::Topology UserStageTopology(const UserStageOptions& options) {
  // The stage's series exist at 0 from the start, not from the first event or rejection.
  Metrics();
  RegisterRejectionCounters();
  Topology t;
  t.name = "user";
  t.source_topic = options.topics.clicks;
  t.stores = {{kWindowsStore, StoreSpec::Kind::kKeyValue}, {kPeerCountsStore, StoreSpec::Kind::kKeyValue}};
  t.processor_supplier = [options] { return std::make_unique<UserStageProcessor>(options); };
  return t;
}

}  // namespace streamrec::operators
