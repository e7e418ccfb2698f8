#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace streamrec::serving {

// The ranking stage's features of one candidate (issue 9 item 3), computed on the
// request path from what serving already holds; the ranker (training/ranker.h) scores
// them. A feature whose source is absent is 0 (no catalogue: no category or brand
// affinity; no model: no two-tower term; no item stats: no count, trend, p̂ or age).
// Index: name = meaning.
//   0 blend        the blend score (recommender.h's formula) that ordered the list
//   1 blend_rank   position in that order / list length (0 = first)
//   2 is_cooc      1 when the co-occurrence channel recalled it
//   3 cooc         its cooc score / the request's max cooc score
//   4 cooc_rank    rank by cooc within the list / length (1 when not recalled by cooc)
//   5 is_two_tower 1 when the two-tower channel recalled it
//   6 two_tower    ⟨u, v⟩ (0 without a model or an embedding for the item)
//   7 two_tower_rank  rank by ⟨u, v⟩ within the list / length (1 without)
//   8 is_popular   1 when the trending channel recalled it
//   9 popularity   decayed popularity / the max
//  10 popularity_rank  rank by popularity within the list / length
//  11 is_renewed   1 when the renewed-interest channel recalled it
//  12 renewed      renewed-interest score (event strength × 2^(−age/half-life))
//  13 is_fallback  1 when it came from the cold-start fallback
//  14 trigger_recency  decay^i of the newest window item whose neighbour list held it
//                  (1 = the newest item's, 0 = none)
//  15 log_count    ln(1 + weighted occurrence count) / 10 (item stats)
//  16 trend        decayed popularity / count: the share of its events that are recent
//  17 p_hat        (log10 p̂ + 7) / 7 clamped to [0, 1] (the item stage's estimate; 0 unknown)
//  18 item_age     ln(1 + hours since the item's last event, at the user's newest event) / 10
//  19 category_affinity  share of the window's items of the candidate's category
//  20 brand_affinity     share of the window's items of the candidate's brand
inline constexpr int64_t kRankerFeatures = 21;
const char* RankerFeatureName(int64_t index);

// The raw signals of one candidate, as the recommender gathered them.
struct RankerSignals {
  double blend = 0;
  uint8_t sources = 0;      // Channel bits (recommender.h)
  double cooc = 0;          // normalised by the max, 0 when none
  bool has_two_tower = false;
  double two_tower = 0;     // ⟨u, v⟩
  double popularity = 0;    // normalised by the max
  double renewed = 0;
  double trigger_recency = 0;
  double count = 0;         // item stats; 0 when unknown
  double decayed = 0;       // item stats' decayed popularity (not normalised)
  double sampling_prob = 0;
  double age_hours = -1;    // < 0 when unknown
  double category_affinity = 0;
  double brand_affinity = 0;
};

// Features of a list of candidates in blend order (row-major [n, kRankerFeatures] into
// `out`, resized). Ranks are within the list.
void RankerFeatures(const std::vector<RankerSignals>& list, std::vector<float>* out);

// Filled by Recommender::Recommend when asked (the eval harness turns a request made
// just before a click into the ranker's training list): the candidates the ranker
// scores (or would score), in blend order, with their features.
struct RankerCapture {
  std::vector<uint64_t> item_keys;
  std::vector<float> features;  // [item_keys.size(), kRankerFeatures]
  bool ranked = false;          // whether a ranker reordered them in this answer
};

}  // namespace streamrec::serving
