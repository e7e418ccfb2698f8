#include "serving/ranker_features.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "serving/recommender.h"

namespace streamrec::serving {

const char* RankerFeatureName(int64_t index) {
  static constexpr const char* kNames[kRankerFeatures] = {
      "blend",        "blend_rank",      "is_cooc",         "cooc",
      "cooc_rank",    "is_two_tower",    "two_tower",       "two_tower_rank",
      "is_popular",   "popularity",      "popularity_rank", "is_renewed",
      "renewed",      "is_fallback",     "trigger_recency", "log_count",
      "trend",        "p_hat",           "item_age",        "category_affinity",
      "brand_affinity"};
  return index >= 0 && index < kRankerFeatures ? kNames[index] : "unknown";
}

namespace {

// rank[i] = position of i when the list is sorted by value descending (ties by index),
// divided by n; entries without the signal (present false) get 1.
template <typename Value, typename Present>
std::vector<float> RanksBy(size_t n, Value value, Present present) {
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i) {
    if (present(i)) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return value(a) > value(b); });
  std::vector<float> rank(n, 1.0f);
  for (size_t r = 0; r < order.size(); ++r) {
    rank[order[r]] = static_cast<float>(r) / static_cast<float>(n);
  }
  return rank;
}

}  // namespace

void RankerFeatures(const std::vector<RankerSignals>& list, std::vector<float>* out) {
  const size_t n = list.size();
  out->assign(n * static_cast<size_t>(kRankerFeatures), 0.0f);
  const auto cooc_rank = RanksBy(
      n, [&](size_t i) { return list[i].cooc; },
      [&](size_t i) { return (list[i].sources & kChannelCooc) != 0; });
  const auto tt_rank = RanksBy(
      n, [&](size_t i) { return list[i].two_tower; },
      [&](size_t i) { return list[i].has_two_tower; });
  const auto pop_rank = RanksBy(
      n, [&](size_t i) { return list[i].popularity; },
      [&](size_t i) { return list[i].popularity > 0; });
  for (size_t i = 0; i < n; ++i) {
    const RankerSignals& s = list[i];
    float* f = out->data() + i * static_cast<size_t>(kRankerFeatures);
    f[0] = static_cast<float>(s.blend);
    f[1] = static_cast<float>(i) / static_cast<float>(n);
    f[2] = (s.sources & kChannelCooc) ? 1.0f : 0.0f;
    f[3] = static_cast<float>(s.cooc);
    f[4] = cooc_rank[i];
    f[5] = (s.sources & kChannelTwoTower) ? 1.0f : 0.0f;
    f[6] = s.has_two_tower ? static_cast<float>(s.two_tower) : 0.0f;
    f[7] = tt_rank[i];
    f[8] = (s.sources & kChannelPopular) ? 1.0f : 0.0f;
    f[9] = static_cast<float>(s.popularity);
    f[10] = pop_rank[i];
    f[11] = (s.sources & kChannelRenewed) ? 1.0f : 0.0f;
    f[12] = static_cast<float>(s.renewed);
    f[13] = (s.sources & kChannelFallback) ? 1.0f : 0.0f;
    f[14] = static_cast<float>(s.trigger_recency);
    f[15] = static_cast<float>(std::log1p(std::max(0.0, s.count)) / 10.0);
    f[16] = s.count > 0 ? static_cast<float>(std::min(1.0, s.decayed / s.count)) : 0.0f;
    f[17] = s.sampling_prob > 0
                ? static_cast<float>(std::clamp((std::log10(s.sampling_prob) + 7.0) / 7.0, 0.0, 1.0))
                : 0.0f;
    f[18] = s.age_hours >= 0 ? static_cast<float>(std::log1p(s.age_hours) / 10.0) : 0.0f;
    f[19] = static_cast<float>(s.category_affinity);
    f[20] = static_cast<float>(s.brand_affinity);
  }
}

}  // namespace streamrec::serving
