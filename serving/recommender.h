#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "serving/global_tables.h"
#include "serving/ranker_features.h"
#include "serving/two_tower_model.h"
#include "serving/user_embedding_cache.h"
#include "serving/user_history.h"

namespace prometheus {
class Counter;
}

namespace streamrec::serving {

// Recall channels; a result's `sources` is a bit set of them.
enum Channel : uint8_t {
  kChannelCooc = 1,       // item-CF neighbours of the recent window ("cooc")
  kChannelTwoTower = 2,   // two-tower nearest neighbours ("two_tower")
  kChannelPopular = 4,    // trending by decayed popularity ("popular")
  kChannelFallback = 8,   // cold-start fallback: catalogue items by id ("fallback")
  kChannelRenewed = 16,   // the user's own viewed/clicked/carted items, not bought ("renewed")
};
inline constexpr Channel kAllChannels[] = {kChannelCooc, kChannelTwoTower, kChannelPopular,
                                          kChannelFallback, kChannelRenewed};
inline constexpr size_t kNumChannels = sizeof(kAllChannels) / sizeof(kAllChannels[0]);
inline constexpr uint8_t kChannelsAll =
    kChannelCooc | kChannelTwoTower | kChannelPopular | kChannelFallback | kChannelRenewed;
const char* ChannelName(Channel channel);
// Channel names of a bit set, in the order of kAllChannels.
std::vector<std::string> ChannelNames(uint8_t sources);
// "purchase,add_to_cart" (EventTypeName names, comma-separated; "none" = no type) as a bit
// set of SeenItem::EventBit. InvalidArgument on an unknown name or an empty list.
Result<uint8_t> ParseEventTypes(std::string_view names);
// "cooc,two_tower" (names of ChannelName, comma-separated; "all" = every channel) as a
// bit set. InvalidArgument on an unknown name or an empty list.
Result<uint8_t> ParseChannels(std::string_view names);

struct RecommenderOptions {
  // Channels that run (serving.channels; default all). A channel that is off neither
  // recalls candidates nor adds its term to the score, so one channel alone is an
  // ablation of the served blend (`eval --channels`, `bench prequential --channels`).
  uint8_t channels = kChannelsAll;

  // --- recall ---
  // Newest window items whose neighbour lists are read: by default as many as the window
  // holds (operators.window.size 20), the older ones weighted down by the decay below.
  // (Measured, bench/RESULTS.md: 20 beat 5 on MovieLens and on the synthetic stream. The
  // seen record's older items as triggers, when the window is short, lost on both.)
  size_t cooc_history_items = 20;
  // Neighbours read per window item (the item stage publishes operators.top_k = 200).
  size_t cooc_neighbors_per_item = 200;
  // Weight of the i-th newest window item's neighbours: cooc_recency_decay^i.
  double cooc_recency_decay = 0.9;
  // Nearest neighbours taken from the two-tower index.
  size_t two_tower_candidates = 100;
  // Items taken from the trending list.
  size_t popular_candidates = 50;
  // Catalogue items offered when the other channels found fewer than k eligible items.
  size_t fallback_candidates = 200;
  // Renewed interest: the newest items of the user's seen record that survive the seen
  // filter (viewed, clicked or carted, not bought; outside the window when filter_seen),
  // scored by the strongest event on them (add_to_cart 1, click 0.6, view 0.3) times
  // 2^(−age / half-life), age counted from the user's newest event.
  size_t renewed_candidates = 20;
  double renewed_half_life_hours = 72;

  // --- score: w_tt·(0.05/τ)·⟨u,v⟩ + w_cooc·cooc/max(cooc) + w_pop·popularity/max(popularity) ---
  // (the system's one blend formula; each term only when its channel is on; τ is the
  // served model's training temperature, TwoTowerModel::blend_scale: at the default τ
  // 0.05 the two-tower term is w_tt·⟨u,v⟩)
  double two_tower_weight = 1.0;
  double cooc_weight = 1.0;
  double popular_weight = 0.3;
  // + w_renewed·renewed (the renewed-interest score above, in [0, 1]). 0.3 measured
  // (bench/RESULTS.md "Renewed interest"): ahead of off on the synthetic stream with and
  // without funnels; 1.0 won more with funnels but lost on plain clicks.
  double renewed_weight = 0.3;

  // --- rerank and filter ---
  // At most this many results per category / per brand (0: no cap) while other items
  // remain: the items over a cap are set aside, and fill the list back to k in score
  // order when the others run out, so a list is never shorter than the candidates allow.
  // Items without a category (brand), or unknown to the catalogue, are not capped.
  // Default 5 (half of a top-10): measured prequentially (bench/RESULTS.md "Diversity
  // rerank"), 3 and 4 cost MovieLens HitRate@10 beyond noise, 5 did not, here or on the
  // synthetic stream with brands.
  size_t max_per_category = 5;
  size_t max_per_brand = 5;
  // Drop the items in the user's window (serving.filter_seen; whatever their event type:
  // what the user is looking at right now is not news).
  bool filter_seen = true;
  // Drop the items of the user's seen record (UserHistoryStore, beyond the window) on
  // which the user had an event of one of these types (bits SeenItem::EventBit;
  // serving.seen.filter_events). Default purchase: what was bought is not offered again,
  // while items only viewed, clicked or carted may come back (renewed interest). A
  // MovieLens rating is read as a purchase (streams/history_reader.h), so rated films
  // are filtered, as in the published protocol.
  uint8_t filter_seen_events = SeenItem::EventBit(EventType::kPurchase);
  // Drop items the catalogue doesn't know (unavailable ones are always dropped).
  bool require_in_catalogue = false;

  // --- rank (issue 9 item 3) ---
  // The ranking stage (serving.ranker.enabled): when the served model version carries a
  // ranker (training/ranker.h), the ranker_depth best candidates by the blend are
  // reordered by the ranker's score of their features (ranker_features.h) before the
  // rerank; the rest follow in blend order. Off, or without a ranker in the model: the
  // blend's order. Default off (measured in bench/RESULTS.md "The ranking stage": not a
  // gain on every data set). The ranker is trained from the served path's own lists: in
  // the eval harnesses, and live from the examples the serving operator publishes while
  // this is on (ServingOperatorOptions::ranker_examples_rate; docs/DESIGN.md "The
  // ranking stage").
  bool ranker_enabled = false;
  size_t ranker_depth = 100;
};

// The items the recommender never returns to a user: the window's items (filter_seen)
// and the seen record's items with a filtered event type (filter_seen_events). The one
// exclusion rule: the prequential harness's baselines use it too.
std::unordered_set<uint64_t> ExcludedItems(const RecommenderOptions& options,
                                           const std::vector<HistoryEntry>& history,
                                           const std::vector<SeenItem>& seen);

// One recommended item.
struct ScoredItem {
  uint64_t item_key = 0;
  std::string item_id;
  double score = 0;
  uint8_t sources = 0;  // Channel bits

  friend bool operator==(const ScoredItem& a, const ScoredItem& b) {
    return a.item_key == b.item_key && a.item_id == b.item_id && a.score == b.score &&
           a.sources == b.sources;
  }
};

// The global tables the recommender reads; not owned.
struct RecommenderTables {
  const ItemCatalog* catalog = nullptr;
  const NeighborTable* neighbors = nullptr;
  const StatsTable* stats = nullptr;
};

// Multi-channel recall → merge → filter (seen, unavailable) → score → sort (score
// descending, ties by item id) → diversity rerank (caps per category and brand) → top k.
// Stateless apart from its tables and metrics; thread-safe (any serving thread).
class Recommender {
 public:
  Recommender(RecommenderOptions options, RecommenderTables tables);

  // `model` may be null (no model loaded yet): the two-tower channel and score are then
  // skipped. `seen`: the user's seen record (UserHistoryStore::GetUser), may be empty.
  // `embedding_cache` (may be null) with `history_version` (the user's
  // UserHistoryStore::UserState::version; 0 = unknown, the cache is not used): the user
  // tower runs only when the cache has no entry for this user, model version, history
  // version and window length. The answer is the same with or without it.
  // `capture` (may be null) receives the ranker_depth candidates the ranker scores (or
  // would score, when it is off or absent) with their features: the harness trains the
  // ranker on them. The answer is the same with or without it.
  std::vector<ScoredItem> Recommend(std::string_view user_id,
                                    const std::vector<HistoryEntry>& history, size_t k,
                                    const TwoTowerModel* model,
                                    const std::vector<SeenItem>& seen = {},
                                    UserEmbeddingCache* embedding_cache = nullptr,
                                    uint64_t history_version = 0,
                                    RankerCapture* capture = nullptr) const;


  // Items similar to `item_key`: its co-occurrence neighbours and (with a model) its
  // nearest items in embedding space; unavailable items and the item itself dropped.
  // Scored w_cooc·score/max + w_tt·⟨v_item,v⟩. NotFound when no channel knows the item.
  Result<std::vector<ScoredItem>> Similar(uint64_t item_key, size_t k,
                                          const TwoTowerModel* model) const;

  const RecommenderOptions& options() const { return options_; }

 private:
  struct Candidate;
  void CountRecall(Channel channel, size_t n) const;

  const RecommenderOptions options_;
  const RecommenderTables tables_;
  prometheus::Counter* recall_counters_[kNumChannels];
};

}  // namespace streamrec::serving
