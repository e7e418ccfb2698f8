#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "operators/frequency_estimator.h"
#include "operators/lambda.h"
#include "runtime/processor.h"
#include "operators/similarity.h"
#include "streams/topics.h"

namespace streamrec::operators {

// Options of the item stage, from the config (keys in operators/README.md).
struct ItemStageOptions {
  // operators.similarity: count | cosine | jaccard | lift. Default cosine.
  Similarity similarity = Similarity::kCosine;
  // operators.top_k: neighbours kept and published per item. Default 200 (serving reads
  // 200 per window item: the long tail of each trigger's neighbourhood adds up over the
  // window's 20 triggers; 200 beat 100, 100 beat 50 and 50 beat 20 on MovieLens without
  // losing on the synthetic streams, bench/RESULTS.md "Wider neighbourhoods").
  size_t top_k = 200;
  // operators.popularity.half_life_s: half-life of the decayed popularity, in event
  // time. Default 7 days; 0 = plain counts. (1 day was noisy on a quiet stream: on
  // MovieLens, popularity alone ranks worse with it than with no decay at all; 7 days
  // was ahead there without losing on the synthetic streams, bench/RESULTS.md.)
  int64_t popularity_half_life_ms = 7 * 24LL * 3600 * 1000;
  // operators.flush_interval_ms: the task commits and publishes changed neighbour lists
  // and stats this often (so at most once per interval per item). Default 200.
  int64_t flush_interval_ms = 200;
  // operators.publish: publish item-neighbors and item-stats. Default true.
  bool publish = true;
  // operators.item_cache_mb: bytes of the in-memory copies the item stage keeps of its
  // own state (neighbour lists, pair and item counts, external ids), shared by every item
  // partition of the process; a cache above its share is dropped whole at the next
  // commit (RocksDB has them all). Default 256 MiB; with state.memory_budget_mb (RocksDB's
  // cache and memtables) it bounds the stage's memory.
  size_t cache_bytes = size_t{256} << 20;
  // operators.estimator.*. The estimator's changed entries and step are written in every
  // commit's WriteBatch, with the offsets: a crash never rolls it back.
  FrequencyEstimatorOptions estimator;
  TopicNames topics;
  // lambda.merge: the speed layer re-bases onto the batch views announced on
  // `streamrec.batch` (operators/lambda.h; DESIGN §2 "Merging the layers"): every applied
  // cooc-delta message is kept in a journal until a view's cutoff covers it. Default
  // false (the journal is a second copy of the input since the last adopted view).
  bool merge_batch_views = false;
  // Where the views to adopt come from (set by the caller; with merge_batch_views and no
  // inbox, the stage journals and waits for views that never come).
  std::shared_ptr<BatchViewInbox> batch_views;

  static Result<ItemStageOptions> FromConfig(const Config& config);
};

// Store names of the item stage (each a column family of the partition's RocksDB).
inline constexpr char kPairsStore[] = "pairs";            // counter: Key64Pair(a, b) -> [c_ab]
inline constexpr char kCountsStore[] = "counts";          // counter: Key64(i) -> [c_i, n_i]; "total"
inline constexpr char kPopularityStore[] = "popularity";  // Key64(i) -> DecayedCount
inline constexpr char kTopKStore[] = "topk";              // Key64(i) -> TopKList
inline constexpr char kIdsStore[] = "ids";                // Key64(i) -> external id
inline constexpr char kDedupStore[] = "dedup";            // Key64(source partition) -> state::SourcePosition
// "e" + Key64(entry) -> (A, B); "step"; (older layout, read on restore: Key64(block) -> block)
inline constexpr char kEstimatorStore[] = "estimator";
// "state" -> LambdaState; JournalKey(..) -> JournalEntry (operators/lambda.h)
inline constexpr char kLambdaStore[] = "lambda";
inline constexpr char kTotalCountKey[] = "total";

// The item stage (DESIGN §2): consumes `streamrec.cooc-deltas`. Drops a message whose
// `streamrec.src` mark (source partition, sequence) was already applied; otherwise adds
// its pair deltas (merge operator), item count deltas (every partition keeps the counts
// of all items, for similarity normalisation), feeds the frequency estimator, updates
// the decayed popularity of the items it owns; before each commit it refreshes the top-K
// list of every item whose pairs changed and forwards it (core/records.h ItemNeighbors,
// key item id) to `streamrec.item-neighbors`, and ItemStats to `streamrec.item-stats`.
// With merge_batch_views it adopts each newer batch view at a flush: its pairs and counts
// become the batch view's plus the journalled parts at or after the view's cutoff, and
// every list it owns is rebuilt exactly at the next flush and published.
runtime::Topology ItemStageTopology(const ItemStageOptions& options);

}  // namespace streamrec::operators
