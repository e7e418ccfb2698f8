#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serving/ranker_features.h"

namespace streamrec::serving {

// One training list of the ranker made by the live serving operator (docs/DESIGN.md "The
// ranking stage"): the candidates the recommender would rank for the user just before a
// click (RankerCapture, blend order), their features row-major
// [candidates, num_features], and which of them the user then clicked. Published on
// topics.ranker_examples (key user id) and read by the trainer stage.
struct RankingExample {
  uint64_t user_key = 0;
  std::string user_id;
  uint64_t item_key = 0;  // the clicked item
  int64_t ts_ms = 0;      // the click's event time (the request is made as of it)
  uint32_t positive = 0;  // index of the clicked item among the candidates
  uint32_t num_features = 0;
  std::vector<float> features;  // [candidates, num_features]

  size_t candidates() const { return num_features == 0 ? 0 : features.size() / num_features; }
  friend bool operator==(const RankingExample& a, const RankingExample& b) {
    return a.user_key == b.user_key && a.user_id == b.user_id && a.item_key == b.item_key &&
           a.ts_ms == b.ts_ms && a.positive == b.positive && a.num_features == b.num_features &&
           a.features == b.features;
  }
};

// Bounds of a valid example (DecodeRankingExample refuses anything outside them).
inline constexpr uint32_t kMaxRankingFeatures = 256;
inline constexpr uint32_t kMaxRankingCandidates = 4096;

// The list a click teaches: false (nothing filled) when fewer than 2 candidates were
// captured or the clicked item is not among them (a click recall missed teaches the
// ranker nothing). Fills every field but user_id / user_key / ts_ms.
bool MakeRankingExample(const RankerCapture& capture, uint64_t clicked_key, RankingExample* out);

// Binary, core/byte_codec.h: format byte 1, user_key u64, user_id (u32 length + bytes),
// item_key u64, ts_ms i64, positive u32, num_features u32, candidates u32, then
// candidates × num_features float32. ~8.5 KB for 100 candidates of 21 features.
std::string EncodeRankingExample(const RankingExample& example);
// Corruption for anything else: another format byte, truncated or trailing bytes, no
// features or more than kMaxRankingFeatures, fewer than 2 or more than
// kMaxRankingCandidates candidates, a positive out of range, a feature not finite.
Result<RankingExample> DecodeRankingExample(std::string_view bytes);

// Whether the click (user, item, event time) is sampled at `rate` (0: never, >= 1:
// always): a hash of the three, so the same click is sampled the same way on every
// replica and after a restart.
bool SampleRankingExample(double rate, uint64_t user_key, uint64_t item_key, int64_t ts_ms);

}  // namespace streamrec::serving
