#include "operators/item_stage.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include "core/flat_key_map.h"
#include "core/metrics.h"
#include "core/records.h"
#include "operators/batch_view_store.h"
#include "operators/cooccurrence.h"
#include "operators/lambda.h"
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
  prometheus::Counter* adopted;
  prometheus::Counter* refused;
  prometheus::Counter* main_straddles;
  prometheus::Counter* peer_straddles;
  prometheus::Gauge* batch_version;
  prometheus::Gauge* view_age;
  prometheus::Gauge* cutoff_lag;
  prometheus::Gauge* cache_bytes;
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
    auto& adoptions = prometheus::BuildCounter()
                          .Name("streamrec_lambda_adoptions_total")
                          .Help("Batch views the item stage re-based onto (adopted) or refused, per task")
                          .Register(*registry);
    auto& straddles = prometheus::BuildCounter()
                          .Name("streamrec_lambda_straddles_total")
                          .Help("Cooc-delta parts whose source offsets straddle the adopted cutoff (applied whole: "
                                "not exact)")
                          .Register(*registry);
    auto& version = prometheus::BuildGauge()
                        .Name("streamrec_lambda_batch_version")
                        .Help("The batch view version the item stage last adopted (0: none)")
                        .Register(*registry);
    auto& age = prometheus::BuildGauge()
                    .Name("streamrec_lambda_batch_view_age_seconds")
                    .Help("Seconds since the batch layer wrote the oldest view this process's item-stage tasks "
                          "have adopted, refreshed at each flush (0: none adopted)")
                    .Register(*registry);
    auto& lag = prometheus::BuildGauge()
                    .Name("streamrec_lambda_cutoff_lag_records")
                    .Help("Records of clicks after the adopted batch view's cutoff that the speed layer covers "
                          "(the most of this process's item-stage tasks, summed over clicks partitions; 0: none "
                          "adopted)")
                    .Register(*registry);
    auto& cache = prometheus::BuildGauge()
                      .Name("streamrec_operators_item_cache_bytes")
                      .Help("Estimated bytes of the item stage's in-memory copies of its state (neighbour "
                            "lists, pair and item counts, ids), summed over this process's item tasks at "
                            "their last commit (bounded by operators.item_cache_mb)")
                      .Register(*registry);
    return ItemStageMetrics{&messages.Add({{"stage", "item"}}), &dups.Add({{"stage", "item"}}),
                            &bad.Add({{"stage", "item"}}), &pairs.Add({{"stage", "item"}}),
                            &lists.Add({{"stage", "item"}}),
                            &flush.Add({{"stage", "item"}}, LatencyBuckets()),
                            &restarts.Add({{"stage", "item"}}), &overlaps.Add({{"stage", "item"}}),
                            &adoptions.Add({{"stage", "item"}, {"result", "adopted"}}),
                            &adoptions.Add({{"stage", "item"}, {"result", "refused"}}),
                            &straddles.Add({{"stage", "item"}, {"part", "main"}}),
                            &straddles.Add({{"stage", "item"}, {"part", "peer"}}),
                            &version.Add({{"stage", "item"}}),
                            &age.Add({{"stage", "item"}}),
                            &lag.Add({{"stage", "item"}}),
                            &cache.Add({{"stage", "item"}})};
  }();
  return m;
}

// The freshness of the merged views, over the item-stage tasks of this process (each
// reports at its flush): the oldest adopted view's creation time and the largest lag
// behind a cutoff.
class LambdaFreshness {
 public:
  static LambdaFreshness& Get() {
    static LambdaFreshness f;
    return f;
  }
  void Report(const void* task, int64_t created_ms, int64_t lag_records) {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_[task] = {created_ms, lag_records};
    Publish();
  }
  // A task that closed no longer counts.
  void Forget(const void* task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.erase(task) > 0) Publish();
  }

 private:
  void Publish() {
    int64_t oldest = 0, lag = 0;
    for (const auto& [t, v] : tasks_) {
      if (v.first > 0 && (oldest == 0 || v.first < oldest)) oldest = v.first;
      lag = std::max(lag, v.second);
    }
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    Metrics().view_age->Set(oldest > 0 ? std::max<double>(0, static_cast<double>(now_ms - oldest) / 1000.0) : 0.0);
    Metrics().cutoff_lag->Set(static_cast<double>(lag));
  }

  std::mutex mu_;
  std::map<const void*, std::pair<int64_t, int64_t>> tasks_;
};

// Sorts `keys` and drops repeats.
void SortUnique(std::vector<uint64_t>* keys) {
  std::sort(keys->begin(), keys->end());
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
}

class ItemStageProcessor : public Processor {
 public:
  explicit ItemStageProcessor(const ItemStageOptions& options)
      : options_(options), estimator_(options.estimator) {
    live_processors_.fetch_add(1);
  }
  ~ItemStageProcessor() override {
    LambdaFreshness::Get().Forget(this);
    live_processors_.fetch_sub(1);
  }

  Status Init(ProcessorContext* context) override {
    context_ = context;
    pairs_ = context->GetStore<state::CounterStore>(kPairsStore);
    counts_ = context->GetStore<state::CounterStore>(kCountsStore);
    popularity_ = context->GetStore<state::KeyValueStore>(kPopularityStore);
    topk_ = context->GetStore<state::KeyValueStore>(kTopKStore);
    ids_ = context->GetStore<state::KeyValueStore>(kIdsStore);
    dedup_store_ = context->GetStore<state::KeyValueStore>(kDedupStore);
    estimator_store_ = context->GetStore<state::KeyValueStore>(kEstimatorStore);
    lambda_store_ = context->GetStore<state::KeyValueStore>(kLambdaStore);
    if (!pairs_ || !counts_ || !popularity_ || !topk_ || !ids_ || !dedup_store_ || !estimator_store_ ||
        !lambda_store_) {
      return Status::Internal("item stage: missing store");
    }
    if (options_.merge_batch_views) STREAMREC_RETURN_IF_ERROR(LoadLambdaState());
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
    const bool merging = options_.merge_batch_views;
    // The source offsets a peer part covers begin where the previous one ended (the user
    // stage sends all peer counts pending since its last send; 0 before the first one),
    // read before Admit moves it.
    int64_t peer_first = source.first_offset;
    if (merging && !m.peer_counts.empty()) {
      auto position = dedup_->Position(source.partition);
      if (!position.ok()) return position.status();
      const int64_t previous = position->has_value() ? (*position)->peer_next_offset : -1;
      peer_first = previous >= 0 ? std::min(previous, source.first_offset) : 0;
    }
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
    {
      int64_t& seen = source_next_[source.partition];
      seen = std::max(seen, source.next_offset);
    }
    bool main = a.apply;
    bool peer = a.apply_peer && !m.peer_counts.empty();
    if (merging) {
      if (m.num_item_partitions > 0 && lambda_.item_partitions != m.num_item_partitions) {
        lambda_.item_partitions = m.num_item_partitions;
        lambda_dirty_ = true;
      }
      // Below the adopted cutoff a part is the batch view's already.
      auto base = lambda_.base.find(source.partition);
      if (base != lambda_.base.end()) {
        main = main && AboveBase(source.first_offset, source.next_offset, base->second, *mark, "main");
        peer = peer && AboveBase(peer_first, source.next_offset, base->second, *mark, "peer");
      }
      if (main || peer) {
        JournalEntry entry;
        entry.first = source.first_offset;
        entry.next = source.next_offset;
        entry.peer_first = peer_first;
        entry.main = main;
        entry.peer = peer;
        entry.message = record.value;
        std::string key = JournalKey(source.partition, source.next_offset, record.offset);
        lambda_store_->Put(key, entry.Encode());
        journal_uncommitted_.emplace_back(std::move(key), std::move(entry));
      }
    }
    // The estimator sees every admitted flush (it is not re-based: DESIGN §2).
    return Apply(m, main, peer, /*feed_estimator=*/a.apply);
  }

  // Applies a cooc-delta message's parts: `main` its pair, count and popularity deltas
  // and total, `peer` its peer counts; `feed_estimator` its sightings. The one way the
  // stage changes its counts: messages as they arrive, and journalled ones on a re-base.
  Status Apply(const CoocDeltaMessage& m, bool main, bool peer, bool feed_estimator) {
    for (const auto& [key, id] : m.ids) STREAMREC_RETURN_IF_ERROR(NoteId(key, id));
    const int32_t me = context_->partition();
    // Counts of items other partitions own: only for similarity denominators. A restarted
    // upstream may send them separately from the rest (DESIGN §3, "Epochs").
    if (peer) {
      for (const auto& c : m.peer_counts) {
        if (ItemPartition(c.item_key, m.num_item_partitions) == me) continue;
        counts_->Add(state::Key64(c.item_key), {c.weight, static_cast<double>(c.occurrences)});
        if (double* cached = count_cache_.find(c.item_key)) *cached += c.weight;
      }
    }
    if (feed_estimator && m.flush_events > 0) {
      // Owned items only, but the step counts every event of the stream: p̂ is global.
      std::vector<std::pair<uint64_t, uint64_t>> occurrences;
      occurrences.reserve(m.counts.size());
      for (const auto& c : m.counts) {
        if (ItemPartition(c.item_key, m.num_item_partitions) == me) occurrences.emplace_back(c.item_key, c.occurrences);
      }
      estimator_.UpdateAggregated(occurrences, m.flush_events);
    }
    if (!main) return Status::Ok();
    for (const auto& c : m.counts) {
      counts_->Add(state::Key64(c.item_key), {c.weight, static_cast<double>(c.occurrences)});
      if (double* cached = count_cache_.find(c.item_key)) *cached += c.weight;
      if (ItemPartition(c.item_key, m.num_item_partitions) == me) {
        STREAMREC_RETURN_IF_ERROR(AddPopularity(c.item_key, c.weight, c.last_ts_ms));
        dirty_stats_.insert(c.item_key);
      }
    }
    if (m.flush_weight != 0) {
      // The total weight of the whole stream (every partition gets every flush's total).
      counts_->Add(kTotalCountKey, m.flush_weight);
      total_ += m.flush_weight;
    }
    uint64_t updates = 0;
    for (const auto& g : m.pairs) {
      std::vector<uint64_t>& changed = dirty_pairs_[g.item_key];
      PairRow* row = pair_cache_.find(g.item_key);
      for (const auto& [b, w] : g.neighbors) {
        pairs_->Add(state::Key64Pair(g.item_key, b), w);
        if (row != nullptr) {
          if (double* cached = row->find(b)) *cached += w;
        }
        changed.push_back(b);
        ++updates;
      }
    }
    Metrics().pair_updates->Increment(static_cast<double>(updates));
    return Status::Ok();
  }

  Status Flush(bool closing) override {
    const auto start = std::chrono::steady_clock::now();
    if (options_.merge_batch_views) {
      // A re-base committed by the previous flush: every list from the merged counts.
      if (lambda_.rebuild_lists) STREAMREC_RETURN_IF_ERROR(RebuildAllLists());
      STREAMREC_RETURN_IF_ERROR(MaybeAdopt());
      ReportFreshness();
    }
    for (auto& [a, changed] : dirty_pairs_) {
      SortUnique(&changed);
      STREAMREC_RETURN_IF_ERROR(RefreshNeighbors(a, changed, total_));
      dirty_stats_.insert(a);
    }
    dirty_pairs_.clear();
    if (options_.publish) {
      for (uint64_t item : dirty_stats_) STREAMREC_RETURN_IF_ERROR(PublishStats(item));
    }
    dirty_stats_.clear();
    WritePopularity();
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
    if (lambda_dirty_) {
      lambda_store_->Put(kLambdaStateKey, lambda_.Encode());
      lambda_dirty_ = false;
    }
    journal_uncommitted_.clear();
    BoundCaches();
    Metrics().flush_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return Status::Ok();
  }

 private:
  // Popularity by item (a write-behind cache: `dirty` until the flush writes it back).
  struct PopularityEntry {
    DecayedCount count;
    bool dirty = false;
  };

  // The adopted view's age and how far the speed layer runs past its cutoff: the source
  // offsets this task has seen above the cutoff, summed over `clicks` partitions.
  void ReportFreshness() {
    int64_t lag = 0;
    if (lambda_.version > 0) {
      for (const auto& [p, base] : lambda_.base) {
        auto seen = source_next_.find(p);
        if (seen != source_next_.end() && seen->second > base) lag += seen->second - base;
      }
    }
    LambdaFreshness::Get().Report(this, lambda_.version > 0 ? lambda_.created_ms : 0, lag);
  }

  Status NoteId(uint64_t key, const std::string& id) {
    if (id.empty() || known_ids_.find(key) != nullptr) return Status::Ok();
    auto existing = ids_->Get(state::Key64(key));
    if (!existing.ok()) return existing.status();
    if (!existing->has_value()) ids_->Put(state::Key64(key), id);
    const std::string& known = existing->has_value() ? **existing : id;
    ids_bytes_ += 64 + known.size();
    known_ids_[key] = known;
    return Status::Ok();
  }

  // The id of `key` ("" if never seen); valid until the next IdOf or NoteId.
  Result<const std::string*> IdOf(uint64_t key) {
    if (const std::string* known = known_ids_.find(key)) return known;
    auto v = ids_->Get(state::Key64(key));
    if (!v.ok()) return v.status();
    std::string& id = known_ids_[key];
    id = v->value_or("");
    ids_bytes_ += 64 + id.size();
    return &id;
  }

  // Item `item`'s popularity, read from its store on the first use after a cache drop. The
  // cache is written back at the flush (once per changed item and commit, not per
  // message), so it is current between flushes and the store is at every commit.
  Result<PopularityEntry*> PopularityOf(uint64_t item) {
    if (PopularityEntry* cached = popularity_cache_.find(item)) return cached;
    auto bytes = popularity_->Get(state::Key64(item));
    if (!bytes.ok()) return bytes.status();
    PopularityEntry entry;
    if (bytes->has_value()) {
      auto parsed = DecayedCount::Parse(**bytes);
      if (!parsed.ok()) return parsed.status();
      entry.count = *parsed;
    }
    PopularityEntry& slot = popularity_cache_[item];
    slot = entry;
    return &slot;
  }

  Status AddPopularity(uint64_t item, double weight, int64_t ts_ms) {
    auto entry = PopularityOf(item);
    if (!entry.ok()) return entry.status();
    (*entry)->count.Add(weight, ts_ms, options_.popularity_half_life_ms);
    if (!(*entry)->dirty) {
      (*entry)->dirty = true;
      popularity_dirty_.push_back(item);
    }
    return Status::Ok();
  }

  // The popularity changed since the last flush into this commit's batch.
  void WritePopularity() {
    // Each item is listed once (when its entry turned dirty), and the cache is dropped
    // only after this call or together with the list (a re-base).
    for (uint64_t item : popularity_dirty_) {
      PopularityEntry& entry = *popularity_cache_.find(item);
      popularity_->Put(state::Key64(item), entry.count.Serialize());
      entry.dirty = false;
    }
    popularity_dirty_.clear();
  }

  // Keeps the caches within this processor's share of options_.cache_bytes (the
  // process's item partitions share it evenly): half for the neighbour lists, a quarter
  // for pair counts, a quarter for item counts and ids. Estimates: a cached list costs
  // its neighbours' capacity plus ~96 bytes of map node; a pair ~32 bytes (flat map entry
  // and index), a count ~32 bytes, an id ~64 bytes plus its length.
  void BoundCaches() {
    const size_t share = options_.cache_bytes / static_cast<size_t>(std::max(1, live_processors_.load()));
    size_t list_bytes = 0;
    for (const auto& [item, list] : topk_cache_) list_bytes += 96 + list.neighbors().capacity() * sizeof(Neighbor);
    if (list_bytes > share / 2) {
      topk_cache_.clear();
      list_bytes = 0;
    }
    size_t pair_bytes = cached_pairs_ * 32 + pair_cache_.size() * 96;
    if (pair_bytes > share / 4) {
      ClearPairCache();
      pair_bytes = 0;
    }
    size_t count_bytes = count_cache_.size() * 32 + popularity_cache_.size() * 48 + ids_bytes_;
    if (count_bytes > share / 4) {
      count_cache_ = FlatKeyMap<double>();
      popularity_cache_ = FlatKeyMap<PopularityEntry>();  // written back by this flush
      known_ids_ = FlatKeyMap<std::string>();
      ids_bytes_ = 0;
      count_bytes = 0;
    }
    cache_bytes_share_.Set(static_cast<double>(list_bytes + pair_bytes + count_bytes));
  }

  // c_ab (weighted), from the cache (this processor is the only writer of its pairs):
  // RocksDB is read once per pair until the cache is dropped, not on every refresh.
  Result<double> PairCountOf(uint64_t a, uint64_t b) {
    PairRow& row = pair_cache_[a];
    if (const double* cached = row.find(b)) return *cached;
    auto c = pairs_->GetScalar(state::Key64Pair(a, b));
    if (!c.ok()) return c.status();
    row[b] = *c;
    ++cached_pairs_;
    return *c;
  }

  // Caches c_ab of each b in `changed` (sorted) not cached yet, with one batched read.
  Status PrefetchPairCounts(uint64_t a, const std::vector<uint64_t>& changed) {
    PairRow& row = pair_cache_[a];
    prefetch_items_.clear();
    prefetch_keys_.clear();
    for (uint64_t b : changed) {
      if (row.find(b) != nullptr) continue;
      prefetch_items_.push_back(b);
      prefetch_keys_.push_back(state::Key64Pair(a, b));
    }
    if (prefetch_items_.empty()) return Status::Ok();
    const std::vector<std::string_view> keys(prefetch_keys_.begin(), prefetch_keys_.end());
    auto counts = pairs_->GetScalars(keys);
    if (!counts.ok()) return counts.status();
    for (size_t i = 0; i < prefetch_items_.size(); ++i) row[prefetch_items_[i]] = (*counts)[i];
    cached_pairs_ += prefetch_items_.size();
    return Status::Ok();
  }

  void ClearPairCache() {
    pair_cache_ = FlatKeyMap<PairRow>();
    cached_pairs_ = 0;
  }

  // c_i (weighted), from the cache (this processor is the only writer of its counts).
  Result<double> CountOf(uint64_t item) {
    if (const double* cached = count_cache_.find(item)) return *cached;
    auto c = counts_->GetScalar(state::Key64(item));
    if (!c.ok()) return c.status();
    count_cache_[item] = *c;
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

  // `changed`: the neighbours whose pair count changed, sorted, distinct.
  Status RefreshNeighbors(uint64_t a, const std::vector<uint64_t>& changed, double total) {
    auto list_or = ListOf(a);
    if (!list_or.ok()) return list_or.status();
    TopKList& list = **list_or;
    auto c_a = CountOf(a);
    if (!c_a.ok()) return c_a.status();
    // Members whose pair count did not change keep the count stored with them.
    std::vector<std::pair<uint64_t, double>> member_counts;
    member_counts.reserve(list.neighbors().size());
    for (const auto& n : list.neighbors()) member_counts.emplace_back(n.item_key, n.count);
    std::sort(member_counts.begin(), member_counts.end());
    // Every changed pair's count is asked for below: the ones not cached are read at once.
    STREAMREC_RETURN_IF_ERROR(PrefetchPairCounts(a, changed));
    Status error;
    list.Update(changed, [&](uint64_t b) {
      Neighbor n;
      double c_ab = 0;
      auto member = std::lower_bound(member_counts.begin(), member_counts.end(), b,
                                     [](const std::pair<uint64_t, double>& m, uint64_t key) { return m.first < key; });
      if (member != member_counts.end() && member->first == b &&
          !std::binary_search(changed.begin(), changed.end(), b)) {
        c_ab = member->second;
      } else {
        auto got = PairCountOf(a, b);
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
    return StoreAndPublish(a, list);
  }

  // Stores item a's list and publishes it (ItemNeighbors with ids) when publishing.
  Status StoreAndPublish(uint64_t a, const TopKList& list) {
    topk_->Put(state::Key64(a), list.Serialize());
    Metrics().neighbor_lists->Increment();
    if (!options_.publish) return Status::Ok();
    ItemNeighbors out;
    out.item_key = a;
    auto id = IdOf(a);
    if (!id.ok()) return id.status();
    out.item_id = **id;
    out.updated_ts_ms = context_->clock().NowMillis();
    out.neighbors.reserve(list.neighbors().size());
    for (const auto& n : list.neighbors()) {
      auto nid = IdOf(n.item_key);
      if (!nid.ok()) return nid.status();
      out.neighbors.push_back(streamrec::Neighbor{n.item_key, **nid, n.score, n.count});
    }
    OutputRecord rec;
    rec.topic = options_.topics.item_neighbors;
    rec.key = out.item_id;
    rec.value = EncodeItemNeighbors(out);
    context_->Forward(std::move(rec));
    return Status::Ok();
  }

  Status PublishStats(uint64_t item) {
    auto c = CountOf(item);
    if (!c.ok()) return c.status();
    auto pop = PopularityOf(item);
    if (!pop.ok()) return pop.status();
    ItemStats s;
    s.item_key = item;
    s.popularity = (*pop)->count.value();
    s.updated_ts_ms = (*pop)->count.ts_ms();
    auto id = IdOf(item);
    if (!id.ok()) return id.status();
    s.item_id = **id;
    s.count = *c;
    s.sampling_prob = estimator_.Estimate(item);
    OutputRecord rec;
    rec.topic = options_.topics.item_stats;
    rec.key = s.item_id;
    rec.value = EncodeItemStats(s);
    context_->Forward(std::move(rec));
    return Status::Ok();
  }

  // --- lambda merge (operators/lambda.h) ---

  Status LoadLambdaState() {
    auto bytes = lambda_store_->Get(kLambdaStateKey);
    if (!bytes.ok()) return bytes.status();
    if (bytes->has_value()) {
      auto parsed = LambdaState::Decode(**bytes);
      if (!parsed.ok()) return parsed.status();
      lambda_ = std::move(parsed).value();
    } else {
      // A store that ran without the merge: its journal starts where each source is now.
      auto it = dedup_store_->ScanCommitted();
      for (; it->Valid(); it->Next()) {
        if (it->key().size() != 8) continue;
        const auto p = static_cast<int32_t>(state::DecodeBigEndian64(it->key().data()));
        auto position = state::SourcePosition::Decode(it->value());
        if (!position.ok()) return position.status();
        // A legacy mark without offsets: nothing can be adopted for that source.
        lambda_.journal_from[p] = position->next_offset >= 0 ? position->next_offset : INT64_MAX;
      }
      STREAMREC_RETURN_IF_ERROR(it->status());
      lambda_dirty_ = true;
    }
    Metrics().batch_version->Set(static_cast<double>(lambda_.version));
    return Status::Ok();
  }

  // Whether a part with source offsets [first, next) is above the adopted cutoff `base`.
  bool AboveBase(int64_t first, int64_t next, int64_t base, std::string_view mark, const char* part) {
    switch (SideOf(first, next, base)) {
      case CutoffSide::kBefore:
        return false;
      case CutoffSide::kAfter:
        return true;
      case CutoffSide::kStraddles:
        break;
    }
    (std::string_view(part) == "main" ? Metrics().main_straddles : Metrics().peer_straddles)->Increment();
    spdlog::error("[item] the {} part of {} covers source offsets [{}, {}) across the batch cutoff {}: applied "
                  "whole (not exact until the next batch view)",
                  part, mark, first, next, base);
    return true;
  }

  // Adopts the newest announced batch view if it is newer than the adopted one: the
  // pairs, counts and popularity become the view's (pairs and popularity of the items
  // this partition owns, counts of all) plus every journalled part at or after its
  // cutoff; the journal below it is dropped. Refused (the state unchanged) when the
  // cutoff is below the adopted one, below where the journal starts, or inside a
  // journalled main part (a view whose cutoff is not a boundary of the speed layer's
  // output cannot be merged exactly). Runs in a flush: all of it goes into one commit.
  Status MaybeAdopt() {
    if (!options_.batch_views) return Status::Ok();
    std::shared_ptr<const BatchViewRef> ref = options_.batch_views->Latest();
    if (!ref || ref->version <= lambda_.version || ref->version == refused_version_) return Status::Ok();
    const int32_t parts = lambda_.item_partitions;
    if (parts <= 0) return Status::Ok();  // no message yet: ownership unknown
    const auto started = std::chrono::steady_clock::now();
    const int32_t me = context_->partition();
    auto refuse = [&](const std::string& why) {
      refused_version_ = ref->version;
      Metrics().refused->Increment();
      spdlog::error("[item] partition {}: batch view v{} ({}) not adopted: {}", me, ref->version, ref->view_dir,
                    why);
      return Status::Ok();
    };
    auto cutoff_of = [&](int32_t p) -> std::optional<int64_t> {
      auto it = ref->cutoff.find(p);
      if (it == ref->cutoff.end()) return std::nullopt;
      return it->second;
    };
    for (const auto& [p, base] : lambda_.base) {
      auto c = cutoff_of(p);
      if (!c || *c < base) return refuse(fmt::format("its cutoff of partition {} is below the adopted {}", p, base));
    }
    for (const auto& [p, c] : ref->cutoff) {
      auto from = lambda_.journal_from.find(p);
      if (from != lambda_.journal_from.end() && c < from->second) {
        return refuse(fmt::format("the journal of partition {} starts at {}, after its cutoff {}", p, from->second, c));
      }
    }
    // The journal: committed entries, then this commit's.
    std::vector<std::pair<std::string, JournalEntry>> entries;
    auto it = lambda_store_->ScanCommitted(kJournalPrefix);
    for (; it->Valid(); it->Next()) {
      auto e = JournalEntry::Decode(it->value());
      if (!e.ok()) return e.status();
      entries.emplace_back(std::string(it->key()), std::move(e).value());
    }
    STREAMREC_RETURN_IF_ERROR(it->status());
    for (auto& kv : journal_uncommitted_) entries.push_back(std::move(kv));
    journal_uncommitted_.clear();
    std::vector<const JournalEntry*> after;
    std::vector<std::string> covered;
    for (const auto& [key, e] : entries) {
      int32_t p = 0;
      int64_t next = 0;
      if (!ParseJournalKey(key, &p, &next)) return Status::Corruption("item stage: bad journal key");
      auto c = cutoff_of(p);
      if (!c) return refuse(fmt::format("it has no cutoff for source partition {}", p));
      if (e.next <= *c) {
        covered.push_back(key);
        continue;
      }
      if (e.main && e.first < *c) {
        return refuse(fmt::format("its cutoff {} of partition {} falls inside a part [{}, {})", *c, p, e.first,
                                  e.next));
      }
      if (e.peer && e.peer_first < *c) Metrics().peer_straddles->Increment();
      after.push_back(&e);
    }
    // The re-base, in this flush's commit: clear, copy the batch view, re-apply.
    STREAMREC_RETURN_IF_ERROR(pairs_->Clear());
    STREAMREC_RETURN_IF_ERROR(counts_->Clear());
    STREAMREC_RETURN_IF_ERROR(popularity_->Clear());
    STREAMREC_RETURN_IF_ERROR(topk_->Clear());
    count_cache_.clear();
    popularity_cache_.clear();
    popularity_dirty_.clear();
    topk_cache_.clear();
    ClearPairCache();
    auto owned = [&](std::string_view key) {
      return ItemPartition(state::DecodeBigEndian64(key.data()), parts) == me;
    };
    Status st = ScanItemStateDb(ref->view_dir, kPairsStore, [&](std::string_view key, std::string_view value) {
      if (key.size() != 16) return Status::Corruption("batch view: bad pair key");
      if (owned(key)) pairs_->Add(key, state::DecodeCounter(value));
      return Status::Ok();
    });
    if (st.ok()) {
      st = ScanItemStateDb(ref->view_dir, kCountsStore, [&](std::string_view key, std::string_view value) {
        counts_->Add(key, state::DecodeCounter(value));
        return Status::Ok();
      });
    }
    if (st.ok()) {
      st = ScanItemStateDb(ref->view_dir, kPopularityStore, [&](std::string_view key, std::string_view value) {
        if (key.size() == 8 && owned(key)) popularity_->Put(key, value);
        return Status::Ok();
      });
    }
    if (st.ok()) {
      st = ScanItemStateDb(ref->view_dir, kIdsStore, [&](std::string_view key, std::string_view value) {
        ids_->Put(key, value);
        return Status::Ok();
      });
    }
    // A view that cannot be read fails the task (its commit would hold a half re-base);
    // the restarted task tries again or, if it fails again, stops: fix or remove the view.
    STREAMREC_RETURN_IF_ERROR(st.WithContext("batch view v" + std::to_string(ref->version)));
    for (const JournalEntry* e : after) {
      auto m = DecodeCoocDeltaMessage(e->message);
      if (!m.ok()) return m.status().WithContext("item stage journal");
      STREAMREC_RETURN_IF_ERROR(Apply(*m, e->main, e->peer, /*feed_estimator=*/false));
    }
    for (const auto& key : covered) lambda_store_->Delete(key);
    auto total = counts_->GetScalar(kTotalCountKey);
    if (!total.ok()) return total.status();
    total_ = *total;
    dirty_pairs_.clear();
    dirty_stats_.clear();
    lambda_.version = ref->version;
    lambda_.base = ref->cutoff;
    lambda_.journal_from = ref->cutoff;
    lambda_.rebuild_lists = true;
    lambda_.created_ms = ref->created_ms;
    lambda_dirty_ = true;
    Metrics().adopted->Increment();
    Metrics().batch_version->Set(static_cast<double>(ref->version));
    spdlog::info("[item] partition {}: adopted batch view v{} ({}): {} journalled parts after its cutoff applied, "
                 "{} covered by it dropped, in {:.3f} s",
                 me, ref->version, ref->view_dir, after.size(), covered.size(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return Status::Ok();
  }

  // After a re-base: every list this partition owns, exactly (ExactTopK) from the
  // committed pairs and counts (plus this commit's), stored and published with its stats.
  Status RebuildAllLists() {
    const auto started = std::chrono::steady_clock::now();
    for (auto& [a, changed] : dirty_pairs_) SortUnique(&changed);
    std::map<uint64_t, std::vector<std::pair<uint64_t, double>>> rows;
    auto it = pairs_->ScanCommitted();
    for (; it->Valid(); it->Next()) {
      if (it->key().size() != 16) continue;
      const uint64_t a = state::DecodeBigEndian64(it->key().data());
      const uint64_t b = state::DecodeBigEndian64(it->key().data() + 8);
      const std::vector<uint64_t>* dirty = dirty_pairs_.find(a);
      if (dirty != nullptr && std::binary_search(dirty->begin(), dirty->end(), b)) continue;  // read below
      const std::vector<double> v = state::DecodeCounter(it->value());
      rows[a].emplace_back(b, v.empty() ? 0.0 : v[0]);
    }
    STREAMREC_RETURN_IF_ERROR(it->status());
    for (const auto& [a, changed] : dirty_pairs_) {
      for (uint64_t b : changed) {
        auto c = pairs_->GetScalar(state::Key64Pair(a, b));
        if (!c.ok()) return c.status();
        rows[a].emplace_back(b, *c);
      }
    }
    dirty_pairs_.clear();
    topk_cache_.clear();
    for (const auto& [a, row] : rows) {
      auto c_a = CountOf(a);
      if (!c_a.ok()) return c_a.status();
      auto top = ExactTopK(options_.similarity, options_.top_k, *c_a, total_, row,
                           [this](uint64_t b) { return CountOf(b); });
      if (!top.ok()) return top.status();
      TopKList list(options_.top_k);
      list.Rebuild(std::move(top).value());
      STREAMREC_RETURN_IF_ERROR(StoreAndPublish(a, list));
      dirty_stats_.insert(a);
    }
    // Every owned item's stats (counts and popularity were re-based too).
    const int32_t me = context_->partition();
    auto counts = counts_->ScanCommitted();
    for (; counts->Valid(); counts->Next()) {
      if (counts->key().size() != 8) continue;
      const uint64_t item = state::DecodeBigEndian64(counts->key().data());
      if (ItemPartition(item, lambda_.item_partitions) == me) dirty_stats_.insert(item);
    }
    STREAMREC_RETURN_IF_ERROR(counts->status());
    lambda_.rebuild_lists = false;
    lambda_dirty_ = true;
    spdlog::info("[item] partition {}: rebuilt {} neighbour lists after the re-base in {:.3f} s", me, rows.size(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
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
  state::KeyValueStore* lambda_store_ = nullptr;
  LambdaState lambda_;
  // The highest source (clicks) next offset applied or dropped, per source partition, since
  // this task started (for the cutoff lag).
  std::map<int32_t, int64_t> source_next_;
  bool lambda_dirty_ = false;
  int64_t refused_version_ = 0;
  // Journal entries written since the last commit (not visible to ScanCommitted).
  std::vector<std::pair<std::string, JournalEntry>> journal_uncommitted_;
  std::unique_ptr<state::DedupFilter> dedup_;
  FrequencyEstimator estimator_;
  // Per item a, the neighbours b whose pair count changed since the last flush (appended,
  // sorted and made distinct when used).
  FlatKeyMap<std::vector<uint64_t>> dirty_pairs_;
  std::unordered_set<uint64_t> dirty_stats_;
  FlatKeyMap<std::string> known_ids_;
  // Caches of state only this processor writes (bounded in bytes by BoundCaches, which
  // drops a cache whole).
  static inline std::atomic<int> live_processors_{0};  // item processors of this process
  size_t ids_bytes_ = 0;                                 // estimate for known_ids_
  GaugeShare cache_bytes_share_{Metrics().cache_bytes};  // this task's part of the gauge
  FlatKeyMap<double> count_cache_;
  FlatKeyMap<PopularityEntry> popularity_cache_;
  std::vector<uint64_t> popularity_dirty_;  // items whose entry is dirty, in first-change order
  std::unordered_map<uint64_t, TopKList> topk_cache_;
  // c_ab by a, then b: an entry is the pair's current count (committed plus pending).
  using PairRow = FlatKeyMap<double>;
  FlatKeyMap<PairRow> pair_cache_;
  size_t cached_pairs_ = 0;
  // PrefetchPairCounts' buffers (kept to reuse their capacity).
  std::vector<uint64_t> prefetch_items_;
  std::vector<std::string> prefetch_keys_;
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
  auto cache_mb = config.GetInt("operators.item_cache_mb", static_cast<int64_t>(o.cache_bytes >> 20));
  if (!cache_mb.ok()) return cache_mb.status();
  if (*cache_mb < 1) return Status::InvalidArgument("operators.item_cache_mb must be >= 1");
  o.cache_bytes = static_cast<size_t>(*cache_mb) << 20;
  auto est = FrequencyEstimatorOptions::FromConfig(config);
  if (!est.ok()) return est.status();
  o.estimator = *est;
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  o.topics = *topics;
  auto merge = config.GetBool("lambda.merge", o.merge_batch_views);
  if (!merge.ok()) return merge.status();
  o.merge_batch_views = *merge;
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
              {kEstimatorStore, StoreSpec::Kind::kKeyValue}, {kLambdaStore, StoreSpec::Kind::kKeyValue}};
  ItemStageOptions o = options;
  if (o.merge_batch_views && !o.batch_views) o.batch_views = std::make_shared<BatchViewInbox>();
  t.processor_supplier = [o] { return std::make_unique<ItemStageProcessor>(o); };
  return t;
}

}  // namespace streamrec::operators
