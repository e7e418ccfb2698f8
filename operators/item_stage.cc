#include "operators/item_stage.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include "core/metrics.h"
#include "core/records.h"
#include "operators/cooccurrence.h"
#include "operators/popularity.h"
#include "state/encoding.h"
#include "state/exactly_once.h"
#include "state/stores.h"

namespace streamrec::operators {
namespace {

using runtime::OutputRecord;
using runtime::Processor;
using runtime::ProcessorContext;
using runtime::PunctuationType;
using runtime::StoreSpec;
using runtime::Topology;

constexpr char kStepKey[] = "step";
constexpr char kEntryPrefix[] = "e";

std::string EntryKey(size_t index) { return kEntryPrefix + state::Key64(index); }

struct ItemStageMetrics {
  prometheus::Counter* messages;
  prometheus::Counter* duplicates;
  prometheus::Counter* bad_messages;
  prometheus::Counter* pair_updates;
  prometheus::Counter* neighbor_lists;
  prometheus::Histogram* flush_seconds;
  prometheus::Counter* restarts;
  prometheus::Counter* overlaps;
};

ItemStageMetrics& Metrics() {
  static ItemStageMetrics m = [] {
    auto registry = MetricsRegistry();
    auto& messages = prometheus::BuildCounter()
                         .Name("streamrec_operators_delta_messages_applied_total")
                         .Help("cooc-delta messages applied by the item stage")
                         .Register(*registry);
    auto& dups = prometheus::BuildCounter()
                     .Name("streamrec_operators_duplicates_dropped_total")
                     .Help("Messages dropped because their (source partition, sequence) was applied")
                     .Register(*registry);
    auto& bad = prometheus::BuildCounter()
                    .Name("streamrec_operators_bad_messages_total")
                    .Help("Internal-topic messages that could not be decoded (skipped)")
                    .Register(*registry);
    auto& pairs = prometheus::BuildCounter()
                      .Name("streamrec_operators_pair_updates_total")
                      .Help("Pair count merges applied by the item stage")
                      .Register(*registry);
    auto& lists = prometheus::BuildCounter()
                      .Name("streamrec_operators_neighbor_lists_published_total")
                      .Help("Neighbour lists recomputed and published")
                      .Register(*registry);
    auto& flush = prometheus::BuildHistogram()
                      .Name("streamrec_flush_seconds")
                      .Help("Time to flush a stage's in-memory aggregates into its commit")
                      .Register(*registry);
    auto& restarts = prometheus::BuildCounter()
                         .Name("streamrec_operators_source_restarts_total")
                         .Help("New epochs of an upstream partition's sequence accepted (its store was new or lost)")
                         .Register(*registry);
    auto& overlaps = prometheus::BuildCounter()
                         .Name("streamrec_operators_restart_overlaps_total")
                         .Help("Messages of a restarted upstream partition that straddle what was applied "
                               "(applied; exactly-once not guaranteed for them)")
                         .Register(*registry);
    return ItemStageMetrics{&messages.Add({{"stage", "item"}}), &dups.Add({{"stage", "item"}}),
                            &bad.Add({{"stage", "item"}}), &pairs.Add({{"stage", "item"}}),
                            &lists.Add({{"stage", "item"}}),
                            &flush.Add({{"stage", "item"}}, LatencyBuckets()),
                            &restarts.Add({{"stage", "item"}}), &overlaps.Add({{"stage", "item"}})};
  }();
  return m;
}

class ItemStageProcessor : public Processor {
 public:
  explicit ItemStageProcessor(const ItemStageOptions& options)
      : options_(options), estimator_(options.estimator) {}

  Status Init(ProcessorContext* context) override {
    context_ = context;
    pairs_ = context->GetStore<state::CounterStore>(kPairsStore);
    counts_ = context->GetStore<state::CounterStore>(kCountsStore);
    popularity_ = context->GetStore<state::KeyValueStore>(kPopularityStore);
    topk_ = context->GetStore<state::KeyValueStore>(kTopKStore);
    ids_ = context->GetStore<state::KeyValueStore>(kIdsStore);
    dedup_store_ = context->GetStore<state::KeyValueStore>(kDedupStore);
    estimator_store_ = context->GetStore<state::KeyValueStore>(kEstimatorStore);
    if (!pairs_ || !counts_ || !popularity_ || !topk_ || !ids_ || !dedup_store_ || !estimator_store_) {
      return Status::Internal("item stage: missing store");
    }
    dedup_ = std::make_unique<state::DedupFilter>(dedup_store_);
    // Restore the estimator: whole blocks of the older layout, then the entries written
    // with every commit since.
    for (size_t b = 0; b < estimator_.num_blocks(); ++b) {
      auto bytes = estimator_store_->Get(state::Key64(b));
      if (!bytes.ok()) return bytes.status();
      if (bytes->has_value()) STREAMREC_RETURN_IF_ERROR(estimator_.ParseBlock(b, **bytes));
    }
    auto entries = estimator_store_->ScanCommitted(kEntryPrefix);
    for (; entries->Valid(); entries->Next()) {
      const std::string_view key = entries->key();
      if (key.size() != 9) return Status::Corruption("item stage: bad estimator entry key");
      const size_t index = static_cast<size_t>(state::DecodeBigEndian64(key.data() + 1));
      STREAMREC_RETURN_IF_ERROR(estimator_.ParseEntry(index, entries->value()));
    }
    STREAMREC_RETURN_IF_ERROR(entries->status());
    auto step = estimator_store_->Get(kStepKey);
    if (!step.ok()) return step.status();
    if (step->has_value() && (*step)->size() == 8) estimator_.set_step(state::DecodeDouble((*step)->data()));
    persisted_step_ = estimator_.step();
    estimator_.ClearDirty();
    auto total = counts_->GetScalar(kTotalCountKey);
    if (!total.ok()) return total.status();
    total_ = *total;
    context->Schedule(options_.flush_interval_ms, PunctuationType::kWallClock,
                      [this](int64_t) {
                        context_->Commit();
                        return Status::Ok();
                      });
    return Status::Ok();
  }

  Status Process(const Record& record) override {
    state::SourceMark source;
    auto mark = record.Header(state::kSourceMarkHeader);
    if (!mark || !state::ParseSourceMark(*mark, &source)) {
      Metrics().bad_messages->Increment();
      spdlog::warn("[item] {}:{}@{} has no valid {} header; skipped", record.topic, record.partition,
                   record.offset, state::kSourceMarkHeader);
      return Status::Ok();
    }
    auto decoded = DecodeCoocDeltaMessage(record.value);
    if (!decoded.ok()) {
      Metrics().bad_messages->Increment();
      spdlog::warn("[item] {}:{}@{}: {}; skipped", record.topic, record.partition, record.offset,
                   decoded.status().message());
      return Status::Ok();
    }
    const CoocDeltaMessage& m = *decoded;
    auto admitted = dedup_->Admit(source, /*has_peer=*/!m.peer_counts.empty());
    if (!admitted.ok()) return admitted.status();
    const state::Admission& a = *admitted;
    if (a.duplicate) {
      Metrics().duplicates->Increment();
      return Status::Ok();
    }
    if (a.restart) {
      Metrics().restarts->Increment();
      spdlog::info("[item] partition {} of the user stage restarted its sequence (epoch {}, from source offset "
                   "{}): applying it from there",
                   source.partition, source.epoch, source.first_offset);
    }
    if (a.overlap) {
      Metrics().overlaps->Increment();
      spdlog::error("[item] {} from a restarted upstream partition covers source offsets [{}, {}) that were partly "
                    "applied before: applied, some events may count twice",
                    *mark, source.first_offset, source.next_offset);
    }
    Metrics().messages->Increment();
    for (const auto& [key, id] : m.ids) STREAMREC_RETURN_IF_ERROR(NoteId(key, id));
    const int32_t me = context_->partition();
    // Counts of items other partitions own: only for similarity denominators. A restarted
    // upstream may send them separately from the rest (DESIGN §3, "Epochs").
    if (a.apply_peer) {
      for (const auto& c : m.peer_counts) {
        if (ItemPartition(c.item_key, m.num_item_partitions) == me) continue;
        counts_->Add(state::Key64(c.item_key), {c.weight, static_cast<double>(c.occurrences)});
        auto cached = count_cache_.find(c.item_key);
        if (cached != count_cache_.end()) cached->second += c.weight;
      }
    }
    if (!a.apply) return Status::Ok();
    double total = 0;
    std::vector<std::pair<uint64_t, uint64_t>> occurrences;
    occurrences.reserve(m.counts.size());
    for (const auto& c : m.counts) {
      counts_->Add(state::Key64(c.item_key), {c.weight, static_cast<double>(c.occurrences)});
      auto cached = count_cache_.find(c.item_key);
      if (cached != count_cache_.end()) cached->second += c.weight;
      total += c.weight;
      if (ItemPartition(c.item_key, m.num_item_partitions) == me) {
        occurrences.emplace_back(c.item_key, c.occurrences);
        STREAMREC_RETURN_IF_ERROR(AddPopularity(c.item_key, c.weight, c.last_ts_ms));
        dirty_stats_.insert(c.item_key);
      }
    }
    (void)total;
    if (m.flush_weight != 0) {
      // The total weight of the whole stream (every partition gets every flush's total).
      counts_->Add(kTotalCountKey, m.flush_weight);
      total_ += m.flush_weight;
    }
    // Owned items only, but the step counts every event of the stream: p̂ is global.
    if (m.flush_events > 0) estimator_.UpdateAggregated(occurrences, m.flush_events);
    uint64_t updates = 0;
    for (const auto& g : m.pairs) {
      auto& changed = dirty_pairs_[g.item_key];
      for (const auto& [b, w] : g.neighbors) {
        pairs_->Add(state::Key64Pair(g.item_key, b), w);
        changed.insert(b);
        ++updates;
      }
    }
    Metrics().pair_updates->Increment(static_cast<double>(updates));
    return Status::Ok();
  }

  Status Flush(bool closing) override {
    const auto start = std::chrono::steady_clock::now();
    for (auto& [a, changed_set] : dirty_pairs_) {
      STREAMREC_RETURN_IF_ERROR(RefreshNeighbors(a, changed_set, total_));
      dirty_stats_.insert(a);
    }
    dirty_pairs_.clear();
    if (options_.publish) {
      for (uint64_t item : dirty_stats_) STREAMREC_RETURN_IF_ERROR(PublishStats(item));
    }
    dirty_stats_.clear();
    (void)closing;
    // The estimator goes into this commit's batch with the offsets it has seen, so a
    // crash cannot roll it back behind them (only the entries that changed: 16 bytes each).
    for (size_t idx : estimator_.dirty_entries()) {
      estimator_store_->Put(EntryKey(idx), estimator_.SerializeEntry(idx));
    }
    if (estimator_.step() != persisted_step_) {
      std::string step;
      state::PutDouble(&step, estimator_.step());
      estimator_store_->Put(kStepKey, step);
      persisted_step_ = estimator_.step();
    }
    estimator_.ClearDirty();
    if (count_cache_.size() > kMaxCachedCounts) count_cache_.clear();
    if (topk_cache_.size() > kMaxCachedLists) topk_cache_.clear();
    Metrics().flush_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return Status::Ok();
  }

 private:
  Status NoteId(uint64_t key, const std::string& id) {
    if (id.empty() || known_ids_.count(key)) return Status::Ok();
    auto existing = ids_->Get(state::Key64(key));
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) ids_->Put(state::Key64(key), id);
    known_ids_.emplace(key, existing->has_value() ? **existing : id);
    return Status::Ok();
  }

  Result<std::string> IdOf(uint64_t key) {
    auto it = known_ids_.find(key);
    if (it != known_ids_.end()) return it->second;
    auto v = ids_->Get(state::Key64(key));
    if (!v.ok()) return v.status();
    std::string id = v->value_or("");
    known_ids_.emplace(key, id);
    return id;
  }

  Status AddPopularity(uint64_t item, double weight, int64_t ts_ms) {
    auto bytes = popularity_->Get(state::Key64(item));
    if (!bytes.ok()) return bytes.status();
    DecayedCount c;
    if (bytes->has_value()) {
      auto parsed = DecayedCount::Parse(**bytes);
      if (!parsed.ok()) return parsed.status();
      c = *parsed;
    }
    c.Add(weight, ts_ms, options_.popularity_half_life_ms);
    popularity_->Put(state::Key64(item), c.Serialize());
    return Status::Ok();
  }

  // c_i (weighted), from the cache (this processor is the only writer of its counts).
  Result<double> CountOf(uint64_t item) {
    auto it = count_cache_.find(item);
    if (it != count_cache_.end()) return it->second;
    auto c = counts_->GetScalar(state::Key64(item));
    if (!c.ok()) return c.status();
    count_cache_.emplace(item, *c);
    return *c;
  }

  Result<TopKList*> ListOf(uint64_t item) {
    auto it = topk_cache_.find(item);
    if (it != topk_cache_.end()) return &it->second;
    TopKList list(options_.top_k);
    auto bytes = topk_->Get(state::Key64(item));
    if (!bytes.ok()) return bytes.status();
    if (bytes->has_value()) {
      auto parsed = TopKList::Parse(**bytes, options_.top_k);
      if (!parsed.ok()) return parsed.status();
      list = std::move(parsed).value();
    }
    return &topk_cache_.emplace(item, std::move(list)).first->second;
  }

  Status RefreshNeighbors(uint64_t a, const std::unordered_set<uint64_t>& changed_set, double total) {
    auto list_or = ListOf(a);
    if (!list_or.ok()) return list_or.status();
    TopKList& list = **list_or;
    auto c_a = CountOf(a);
    if (!c_a.ok()) return c_a.status();
    // Members whose pair count did not change keep the count stored with them.
    std::unordered_map<uint64_t, double> member_counts;
    for (const auto& n : list.neighbors()) member_counts.emplace(n.item_key, n.count);
    Status error;
    std::vector<uint64_t> changed(changed_set.begin(), changed_set.end());
    std::sort(changed.begin(), changed.end());
    list.Update(changed, [&](uint64_t b) {
      Neighbor n;
      double c_ab = 0;
      auto member = member_counts.find(b);
      if (member != member_counts.end() && changed_set.count(b) == 0) {
        c_ab = member->second;
      } else {
        auto got = pairs_->GetScalar(state::Key64Pair(a, b));
        if (!got.ok()) {
          error = got.status();
          return n;
        }
        c_ab = *got;
      }
      auto c_b = CountOf(b);
      if (!c_b.ok()) {
        error = c_b.status();
        return n;
      }
      n.count = c_ab;
      n.score = SimilarityScore(options_.similarity, c_ab, *c_a, *c_b, total);
      return n;
    });
    STREAMREC_RETURN_IF_ERROR(error);
    topk_->Put(state::Key64(a), list.Serialize());
    Metrics().neighbor_lists->Increment();
    if (!options_.publish) return Status::Ok();
    ItemNeighbors out;
    out.item_key = a;
    auto id = IdOf(a);
    if (!id.ok()) return id.status();
    out.item_id = *id;
    out.updated_ts_ms = context_->clock().NowMillis();
    for (const auto& n : list.neighbors()) {
      auto nid = IdOf(n.item_key);
      if (!nid.ok()) return nid.status();
      out.neighbors.push_back(streamrec::Neighbor{n.item_key, *nid, n.score, n.count});
    }
    OutputRecord rec;
    rec.topic = options_.topics.item_neighbors;
    rec.key = out.item_id;
    rec.value = EncodeItemNeighbors(out);
    context_->Forward(std::move(rec));
    return Status::Ok();
  }

  Status PublishStats(uint64_t item) {
    auto c = counts_->Get(state::Key64(item));
    if (!c.ok()) return c.status();
    auto pop = popularity_->Get(state::Key64(item));
    if (!pop.ok()) return pop.status();
    ItemStats s;
    s.item_key = item;
    auto id = IdOf(item);
    if (!id.ok()) return id.status();
    s.item_id = *id;
    s.count = c->empty() ? 0.0 : (*c)[0];
    if (pop->has_value()) {
      auto parsed = DecayedCount::Parse(**pop);
      if (!parsed.ok()) return parsed.status();
      s.popularity = parsed->value();
      s.updated_ts_ms = parsed->ts_ms();
    }
    s.sampling_prob = estimator_.Estimate(item);
    OutputRecord rec;
    rec.topic = options_.topics.item_stats;
    rec.key = s.item_id;
    rec.value = EncodeItemStats(s);
    context_->Forward(std::move(rec));
    return Status::Ok();
  }

  ItemStageOptions options_;
  ProcessorContext* context_ = nullptr;
  state::CounterStore* pairs_ = nullptr;
  state::CounterStore* counts_ = nullptr;
  state::KeyValueStore* popularity_ = nullptr;
  state::KeyValueStore* topk_ = nullptr;
  state::KeyValueStore* ids_ = nullptr;
  state::KeyValueStore* dedup_store_ = nullptr;
  state::KeyValueStore* estimator_store_ = nullptr;
  std::unique_ptr<state::DedupFilter> dedup_;
  FrequencyEstimator estimator_;
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> dirty_pairs_;
  std::unordered_set<uint64_t> dirty_stats_;
  std::unordered_map<uint64_t, std::string> known_ids_;
  // Caches of state only this processor writes (bounded by dropping them whole).
  static constexpr size_t kMaxCachedCounts = 2'000'000;
  static constexpr size_t kMaxCachedLists = 500'000;
  std::unordered_map<uint64_t, double> count_cache_;
  std::unordered_map<uint64_t, TopKList> topk_cache_;
  double total_ = 0;
  double persisted_step_ = 0;  // estimator step in the store (after the pending batch)
};

}  // namespace

Result<ItemStageOptions> ItemStageOptions::FromConfig(const Config& config) {
  ItemStageOptions o;
  auto sim = config.GetString("operators.similarity", SimilarityName(o.similarity));
  if (!sim.ok()) return sim.status();
  auto parsed = ParseSimilarity(*sim);
  if (!parsed.ok()) return parsed.status().WithContext("operators.similarity");
  o.similarity = *parsed;
  auto k = config.GetInt("operators.top_k", static_cast<int64_t>(o.top_k));
  if (!k.ok()) return k.status();
  if (*k < 1 || *k > 10000) return Status::InvalidArgument("operators.top_k must be in [1, 10000]");
  o.top_k = static_cast<size_t>(*k);
  auto hl = config.GetDouble("operators.popularity.half_life_s",
                             static_cast<double>(o.popularity_half_life_ms) / 1000);
  if (!hl.ok()) return hl.status();
  if (*hl < 0) return Status::InvalidArgument("operators.popularity.half_life_s must be >= 0");
  o.popularity_half_life_ms = static_cast<int64_t>(*hl * 1000);
  auto flush = config.GetInt("operators.flush_interval_ms", o.flush_interval_ms);
  if (!flush.ok()) return flush.status();
  if (*flush < 1) return Status::InvalidArgument("operators.flush_interval_ms must be >= 1");
  o.flush_interval_ms = *flush;
  auto publish = config.GetBool("operators.publish", o.publish);
  if (!publish.ok()) return publish.status();
  o.publish = *publish;
  auto est = FrequencyEstimatorOptions::FromConfig(config);
  if (!est.ok()) return est.status();
  o.estimator = *est;
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  o.topics = *topics;
  return o;
}

runtime::Topology ItemStageTopology(const ItemStageOptions& options) {
  Metrics();  // the stage's series exist at 0 from the start
  Topology t;
  t.name = "item";
  t.source_topic = options.topics.cooc_deltas;
  t.stores = {{kPairsStore, StoreSpec::Kind::kCounter},   {kCountsStore, StoreSpec::Kind::kCounter},
              {kPopularityStore, StoreSpec::Kind::kKeyValue}, {kTopKStore, StoreSpec::Kind::kKeyValue},
              {kIdsStore, StoreSpec::Kind::kKeyValue},       {kDedupStore, StoreSpec::Kind::kKeyValue},
              {kEstimatorStore, StoreSpec::Kind::kKeyValue}};
  t.processor_supplier = [options] { return std::make_unique<ItemStageProcessor>(options); };
  return t;
}

}  // namespace streamrec::operators
