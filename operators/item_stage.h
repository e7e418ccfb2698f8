#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/status.h"
#include "operators/frequency_estimator.h"
#include "operators/processor.h"
#include "operators/similarity.h"
#include "streams/topics.h"

namespace streamrec::operators {

// Options of the item stage, from the config (keys in operators/README.md).
struct ItemStageOptions {
  // operators.similarity: count | cosine | jaccard | lift. Default cosine.
  Similarity similarity = Similarity::kCosine;
  // operators.top_k: neighbours kept and published per item. Default 20.
  size_t top_k = 20;
  // operators.popularity.half_life_s: half-life of the decayed popularity, in event
  // time. Default 1 day; 0 = plain counts.
  int64_t popularity_half_life_ms = 24LL * 3600 * 1000;
  // operators.flush_interval_ms: the task commits and publishes changed neighbour lists
  // and stats this often (so at most once per interval per item). Default 200.
  int64_t flush_interval_ms = 200;
  // operators.publish: publish item-neighbors and item-stats. Default true.
  bool publish = true;
  FrequencyEstimatorOptions estimator;  // operators.estimator.*
  // operators.estimator.persist_interval_ms: the estimator's arrays are written to RocksDB
  // (in the commit batch) at most this often, and on every closing commit. Default 5000.
  // After a crash it resumes from that snapshot: up to this much of its history (never of
  // the counts) is missed, which only delays its adaptation.
  int64_t estimator_persist_interval_ms = 5000;
  TopicNames topics;

  static Result<ItemStageOptions> FromConfig(const Config& config);
};

// Store names of the item stage (each a column family of the partition's RocksDB).
inline constexpr char kPairsStore[] = "pairs";            // counter: Key64Pair(a, b) -> [c_ab]
inline constexpr char kCountsStore[] = "counts";          // counter: Key64(i) -> [c_i, n_i]; "total"
inline constexpr char kPopularityStore[] = "popularity";  // Key64(i) -> DecayedCount
inline constexpr char kTopKStore[] = "topk";              // Key64(i) -> TopKList
inline constexpr char kIdsStore[] = "ids";                // Key64(i) -> external id
inline constexpr char kDedupStore[] = "dedup";            // Key64(source partition) -> sequence
inline constexpr char kEstimatorStore[] = "estimator";    // Key64(block) -> block; "step"
inline constexpr char kTotalCountKey[] = "total";

// The item stage (DESIGN §2): consumes `streamrec.cooc-deltas`. Drops a message whose
// `streamrec.src` mark (source partition, sequence) was already applied; otherwise adds
// its pair deltas (merge operator), item count deltas (every partition keeps the counts
// of all items, for similarity normalisation), feeds the frequency estimator, updates
// the decayed popularity of the items it owns; before each commit it refreshes the top-K
// list of every item whose pairs changed and forwards it (core/records.h ItemNeighbors,
// key item id) to `streamrec.item-neighbors`, and ItemStats to `streamrec.item-stats`.
Topology ItemStageTopology(const ItemStageOptions& options);

}  // namespace streamrec::operators
