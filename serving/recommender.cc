#include "serving/recommender.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/flat_key_map.h"
#include "core/id_hash.h"
#include "core/metrics.h"
#include "training/ranker.h"

namespace streamrec::serving {

const char* ChannelName(Channel channel) {
  switch (channel) {
    case kChannelCooc: return "cooc";
    case kChannelTwoTower: return "two_tower";
    case kChannelPopular: return "popular";
    case kChannelFallback: return "fallback";
    case kChannelRenewed: return "renewed";
  }
  return "unknown";
}

std::vector<std::string> ChannelNames(uint8_t sources) {
  std::vector<std::string> out;
  for (Channel c : kAllChannels) {
    if (sources & c) out.emplace_back(ChannelName(c));
  }
  return out;
}

Result<uint8_t> ParseChannels(std::string_view names) {
  uint8_t out = 0;
  size_t start = 0;
  while (start <= names.size()) {
    size_t end = names.find(',', start);
    if (end == std::string_view::npos) end = names.size();
    std::string_view name = names.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name == "all") {
      out |= kChannelsAll;
    } else if (!name.empty()) {
      bool known = false;
      for (Channel c : kAllChannels) {
        if (name == ChannelName(c)) {
          out |= c;
          known = true;
        }
      }
      if (!known) {
        return Status::InvalidArgument("unknown channel '" + std::string(name) +
                                       "' (cooc, two_tower, popular, fallback, renewed or all)");
      }
    }
    start = end + 1;
  }
  if (out == 0) return Status::InvalidArgument("no channel given");
  return out;
}

Result<uint8_t> ParseEventTypes(std::string_view names) {
  uint8_t out = 0;
  bool none = false;
  size_t start = 0;
  while (start <= names.size()) {
    size_t end = names.find(',', start);
    if (end == std::string_view::npos) end = names.size();
    std::string_view name = names.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name == "none") {
      none = true;
    } else if (!name.empty()) {
      EventType type;
      if (!ParseEventType(name, &type)) {
        return Status::InvalidArgument("unknown event type '" + std::string(name) +
                                       "' (view, click, add_to_cart, purchase or none)");
      }
      out |= SeenItem::EventBit(type);
    }
    start = end + 1;
  }
  if (out == 0 && !none) return Status::InvalidArgument("no event type given (none for no filter)");
  if (out != 0 && none) return Status::InvalidArgument("none with an event type");
  return out;
}

struct Recommender::Candidate {
  // The id lives in a row the request holds (a neighbour list, the model, the trending
  // snapshot, a catalogue item in `info`), so candidates copy no strings: a view
  // (`id_data`, `id_size`), or for a neighbour's id its list's interned string itself
  // (`id_size` == kInterned, never empty), which the cooc loop points at without
  // reading it (only ties and the answer read it). 16 bytes, as the view alone was: the
  // candidate stays 64. The first non-empty id offered wins.
  static constexpr size_t kInterned = ~size_t{0};
  const void* id_data = nullptr;
  size_t id_size = 0;
  std::string_view id() const {
    if (id_size == kInterned) return *static_cast<const std::string*>(id_data);
    return {static_cast<const char*>(id_data), id_size};
  }
  bool needs_id() const { return id_size == 0; }
  void SetId(std::string_view id) {
    id_data = id.data();
    id_size = id.size();
  }
  // `id`: a NeighborList::interned_id(), nullptr for an empty one (then nothing is set).
  void SetInternedId(const std::string* id) {
    if (id == nullptr) return;
    id_data = id;
    id_size = kInterned;
  }
  double cooc = 0;
  double renewed = 0;
  double trigger = 0;  // decay weight of the newest window item whose list held it
  uint8_t sources = 0;
  bool dropped = false;                      // filtered out (seen, unavailable)
  std::shared_ptr<const CatalogItem> info;  // fallback's row, or read by the rerank
};

Recommender::Recommender(RecommenderOptions options, RecommenderTables tables)
    : options_(options), tables_(tables) {
  auto& family = prometheus::BuildCounter()
                     .Name("streamrec_recall_candidates_total")
                     .Help("Candidates produced by each recall channel")
                     .Register(*MetricsRegistry());
  for (size_t i = 0; i < kNumChannels; ++i) {
    recall_counters_[i] = &family.Add({{"channel", ChannelName(kAllChannels[i])}});
  }
}

void Recommender::CountRecall(Channel channel, size_t n) const {
  if (n == 0) return;
  for (size_t i = 0; i < kNumChannels; ++i) {
    if (kAllChannels[i] == channel) recall_counters_[i]->Increment(static_cast<double>(n));
  }
}

namespace {

bool ByScoreThenId(const ScoredItem& a, const ScoredItem& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.item_id < b.item_id;
}

// How strongly an event type says "still interested": a cart more than a click, a click
// more than a view. A purchase is not renewed interest (it is filtered by default).
double InterestOf(const SeenItem& s) {
  if (s.Has(EventType::kAddToCart)) return 1.0;
  if (s.Has(EventType::kClick)) return 0.6;
  if (s.Has(EventType::kView)) return 0.3;
  return 0.0;
}

}  // namespace

namespace {

// Calls fn(item_key) for each item ExcludedItems holds (duplicates possible).
template <typename Fn>
void ForEachExcluded(const RecommenderOptions& options, const std::vector<HistoryEntry>& history,
                     const std::vector<SeenItem>& seen, Fn fn) {
  if (options.filter_seen) {
    for (const HistoryEntry& h : history) fn(h.item_key);
  }
  if (options.filter_seen_events != 0) {
    for (const SeenItem& s : seen) {
      if ((s.events & options.filter_seen_events) != 0) fn(s.item_key);
    }
  }
}

}  // namespace

std::unordered_set<uint64_t> ExcludedItems(const RecommenderOptions& options,
                                           const std::vector<HistoryEntry>& history,
                                           const std::vector<SeenItem>& seen) {
  std::unordered_set<uint64_t> out;
  ForEachExcluded(options, history, seen, [&](uint64_t key) { out.insert(key); });
  return out;
}

std::vector<ScoredItem> Recommender::Recommend(std::string_view user_id,
                                               const std::vector<HistoryEntry>& history,
                                               size_t k, const TwoTowerModel* model,
                                               const std::vector<SeenItem>& seen_items,
                                               UserEmbeddingCache* embedding_cache,
                                               uint64_t history_version,
                                               RankerCapture* capture) const {
  if (k == 0) return {};
  // Items never returned (the window, filtered event types); candidate counts read past
  // them. Flat maps: a request touches thousands of candidates (20 triggers × 200
  // neighbours), and nodes of std::unordered_map made most of its CPU at 100k items
  // (bench/RESULTS.md, "Where a request's CPU goes").
  FlatKeyMap<bool> seen(history.size() + seen_items.size());
  size_t num_seen = 0;
  ForEachExcluded(options_, history, seen_items, [&](uint64_t key) {
    bool& s = seen[key];
    num_seen += s ? 0 : 1;
    s = true;
  });
  FlatKeyMap<Candidate> cands(options_.cooc_history_items * options_.cooc_neighbors_per_item +
                              options_.two_tower_candidates + options_.popular_candidates +
                              2 * num_seen + k);
  // Rows whose item ids the candidates point into, held for the request.
  std::vector<std::shared_ptr<const NeighborList>> lists;

  const uint8_t on = options_.channels;
  // Channel 1: co-occurrence neighbours of the newest distinct window items.
  if (tables_.neighbors != nullptr && (on & kChannelCooc)) {
    FlatKeyMap<bool> used(options_.cooc_history_items);
    double weight = 1.0;
    size_t n = 0;
    for (auto it = history.rbegin();
         it != history.rend() && used.size() < options_.cooc_history_items; ++it) {
      if (used.contains(it->item_key)) continue;
      used[it->item_key] = true;
      auto nb = tables_.neighbors->Get(it->item_key);
      if (nb != nullptr) {
        const size_t m = std::min(options_.cooc_neighbors_per_item, nb->size());
        for (size_t j = 0; j < m; ++j) {
          Candidate& c = cands[nb->key(j)];
          if (c.needs_id()) c.SetInternedId(nb->interned_id(j));
          c.cooc += weight * nb->score(j);
          c.trigger = std::max(c.trigger, weight);
          c.sources |= kChannelCooc;
        }
        n += m;
        lists.push_back(std::move(nb));
      }
      weight *= options_.cooc_recency_decay;
    }
    CountRecall(kChannelCooc, n);
  }

  // Channel 2: two-tower nearest neighbours of the user's embedding.
  std::vector<float> user_vec;
  if (model != nullptr && (on & kChannelTwoTower) &&
      (options_.two_tower_candidates > 0 || options_.two_tower_weight != 0)) {
    // The user tower is most of a request's model time: reuse the user's embedding while
    // neither the model nor the user's window changed.
    const bool cached = embedding_cache != nullptr && embedding_cache->enabled() &&
                        history_version != 0;
    UserEmbeddingCache::Key key;
    Result<std::vector<float>> encoded = Status::NotFound("not encoded");
    if (cached) {
      key = {HashId(user_id), model->version(), history_version, history.size()};
      if (std::optional<std::vector<float>> hit = embedding_cache->Lookup(key)) {
        encoded = std::move(*hit);
      }
    }
    if (!encoded.ok()) {
      encoded = model->user_encoder().Encode(user_id, history);
      if (cached && encoded.ok()) embedding_cache->Insert(key, *encoded);
    }
    if (encoded.ok() && encoded->size() == static_cast<size_t>(model->items().dim())) {
      user_vec = std::move(encoded).value();
      const auto hits =
          options_.two_tower_candidates == 0
              ? std::vector<EmbeddingIndex::Hit>()
              : model->index().Search(user_vec.data(), options_.two_tower_candidates + num_seen);
      for (const auto& hit : hits) {
        Candidate& c = cands[model->items().key(hit.row)];
        if (c.needs_id()) c.SetId(model->items().id(hit.row));
        c.sources |= kChannelTwoTower;
      }
      CountRecall(kChannelTwoTower, hits.size());
    }
  }

  // Channel 3: trending.
  std::shared_ptr<const StatsSnapshot> stats;
  if (tables_.stats != nullptr && (on & kChannelPopular)) {
    stats = tables_.stats->Snapshot();
    const size_t m =
        options_.popular_candidates == 0
            ? 0
            : std::min(options_.popular_candidates + num_seen, stats->trending.size());
    for (size_t i = 0; i < m; ++i) {
      const auto& e = stats->trending[i];
      Candidate& c = cands[e.item_key];
      if (c.needs_id()) c.SetId(e.item_id);
      c.sources |= kChannelPopular;
    }
    CountRecall(kChannelPopular, m);
  }

  // Channel 5: renewed interest, the user's own items not excluded above (by default,
  // viewed, clicked or carted and not bought, outside the window), newest first.
  std::vector<std::shared_ptr<const CatalogItem>> renewed_rows;
  if ((on & kChannelRenewed) && options_.renewed_candidates > 0 && !seen_items.empty()) {
    int64_t newest = 0;
    for (const SeenItem& s : seen_items) newest = std::max(newest, s.last_ts_ms);
    for (const HistoryEntry& h : history) newest = std::max(newest, h.ts_ms);
    const double half_life_ms = std::max(1.0, options_.renewed_half_life_hours * 3'600'000.0);
    size_t n = 0;
    for (auto it = seen_items.rbegin(); it != seen_items.rend() && n < options_.renewed_candidates;
         ++it) {
      const double interest = InterestOf(*it);
      if (interest <= 0 || seen.contains(it->item_key)) continue;
      // The seen record keeps keys only: the id comes from the candidates, the
      // catalogue, the item's neighbour list or the model (an item none of them knows
      // can't be answered).
      std::string_view id;
      std::shared_ptr<const CatalogItem> info;
      if (const Candidate* found = cands.find(it->item_key)) id = found->id();
      if (id.empty() && tables_.catalog != nullptr) {
        info = tables_.catalog->Get(it->item_key);
        if (info != nullptr) id = info->item_id;
      }
      if (id.empty() && tables_.neighbors != nullptr) {
        if (auto nb = tables_.neighbors->Get(it->item_key)) {
          id = nb->item_id();
          lists.push_back(std::move(nb));
        }
      }
      if (id.empty() && model != nullptr) {
        const int64_t row = model->items().Find(it->item_key);
        if (row >= 0) id = model->items().id(static_cast<size_t>(row));
      }
      if (id.empty()) continue;
      const double age_ms = static_cast<double>(std::max<int64_t>(0, newest - it->last_ts_ms));
      Candidate& c = cands[it->item_key];
      if (c.needs_id()) c.SetId(id);
      if (info != nullptr) renewed_rows.push_back(std::move(info));
      c.renewed = interest * std::exp2(-age_ms / half_life_ms);
      c.sources |= kChannelRenewed;
      ++n;
    }
    CountRecall(kChannelRenewed, n);
  }

  // Filter: seen, unavailable, (optionally) unknown to the catalogue.
  size_t eligible = 0;
  for (auto& [key, c] : cands) {
    if (seen.contains(key)) {
      c.dropped = true;
    } else if (tables_.catalog != nullptr) {
      const std::optional<bool> available = tables_.catalog->Available(key);
      c.dropped = available.has_value() ? !*available : options_.require_in_catalogue;
    } else {
      c.dropped = options_.require_in_catalogue;
    }
    eligible += c.dropped ? 0 : 1;
  }

  // Channel 4: cold-start fallback when too few eligible candidates.
  if (eligible < k && tables_.catalog != nullptr && (on & kChannelFallback)) {
    const auto fallback = tables_.catalog->Fallback();
    size_t n = 0;
    if (fallback != nullptr) {
      for (const auto& item : *fallback) {
        if (n >= options_.fallback_candidates) break;
        if (seen.contains(item->item_key) || cands.contains(item->item_key)) continue;
        Candidate& c = cands[item->item_key];
        c.SetId(item->item_id);
        c.sources |= kChannelFallback;
        c.info = item;
        ++n;
      }
    }
    CountRecall(kChannelFallback, n);
  }

  // Score.
  double max_cooc = 0;
  for (const auto& [key, c] : cands) {
    if (!c.dropped) max_cooc = std::max(max_cooc, c.cooc);
  }
  const double max_pop = stats != nullptr ? stats->max_popularity : 0;
  struct Scored {
    double score;
    Candidate* c;
    uint64_t key;
    float two_tower = 0;  // ⟨u, v⟩ when has_two_tower (a ranker feature)
    bool has_two_tower = false;
  };
  std::vector<Scored> scored;
  scored.reserve(cands.size());
  for (auto& [key, c] : cands) {
    if (!c.dropped) scored.push_back({0.0, &c, key});
  }
  // The model rows first, so each row's cache lines can be fetched a few candidates ahead
  // of its dot product: a 100k-item matrix (25.6 MB) is not in cache, and the misses were
  // the dot products' whole cost.
  const bool two_tower_term = !user_vec.empty() && options_.two_tower_weight != 0;
  std::vector<int64_t> rows;
  if (two_tower_term) {
    rows.reserve(scored.size());
    for (const Scored& s : scored) rows.push_back(model->items().Find(s.key));
  }
  constexpr size_t kAhead = 8;
  const size_t row_bytes = static_cast<size_t>(two_tower_term ? model->items().dim() : 0) * sizeof(float);
  for (size_t i = 0; i < scored.size(); ++i) {
    Scored& s = scored[i];
    const Candidate& c = *s.c;
    double score = 0;
    if (two_tower_term) {
      if (i + kAhead < rows.size() && rows[i + kAhead] >= 0) {
        const char* ahead =
            reinterpret_cast<const char*>(model->items().row(static_cast<size_t>(rows[i + kAhead])));
        for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(ahead + b);
      }
      if (rows[i] >= 0) {
        s.two_tower = model->items().Dot(user_vec.data(), static_cast<size_t>(rows[i]));
        s.has_two_tower = true;
        score += options_.two_tower_weight * model->blend_scale() * static_cast<double>(s.two_tower);
      }
    }
    if (max_cooc > 0) score += options_.cooc_weight * (c.cooc / max_cooc);
    score += options_.renewed_weight * c.renewed;
    if (max_pop > 0 && options_.popular_weight != 0 && tables_.stats != nullptr) {
      score += options_.popular_weight * (tables_.stats->Popularity(s.key) / max_pop);
    }
    s.score = score;
  }
  // Score descending, ties by item id (ByScoreThenId).
  auto by_score = [](const Scored& a, const Scored& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.c->id() < b.c->id();
  };
  // Only the head is needed unless the diversity caps skip many items: sort a head of
  // 4k first, and the rest only if the rerank runs past it.
  // The ranking stage scores the ranker_depth best by the blend (also when only asked
  // for their features).
  const training::RankerModel* ranker =
      options_.ranker_enabled && model != nullptr ? model->ranker() : nullptr;
  const size_t depth =
      ranker != nullptr || capture != nullptr ? std::min(scored.size(), options_.ranker_depth) : 0;
  const size_t head = std::min(scored.size(), std::max(4 * k + 16, depth));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(head),
                    scored.end(), by_score);
  bool tail_sorted = head == scored.size();
  if (capture != nullptr) *capture = RankerCapture();
  if (depth >= 2) {
    std::vector<RankerSignals> signals(depth);
    std::vector<uint64_t> keys(depth);  // blend order
    // The window's categories and brands, for the affinity features.
    std::unordered_map<std::string, double> window_categories, window_brands;
    double window_items = 0;
    if (tables_.catalog != nullptr) {
      for (const HistoryEntry& h : history) {
        if (auto row = tables_.catalog->Get(h.item_key)) {
          if (!row->category.empty()) window_categories[row->category] += 1;
          if (!row->brand.empty()) window_brands[row->brand] += 1;
        }
        window_items += 1;
      }
    }
    int64_t now_ms = 0;
    for (const HistoryEntry& h : history) now_ms = std::max(now_ms, h.ts_ms);
    for (size_t i = 0; i < depth; ++i) {
      const Scored& sc = scored[i];
      Candidate& c = *sc.c;
      RankerSignals& g = signals[i];
      keys[i] = sc.key;
      g.blend = sc.score;
      g.sources = c.sources;
      g.cooc = max_cooc > 0 ? c.cooc / max_cooc : 0;
      g.has_two_tower = sc.has_two_tower;
      g.two_tower = sc.two_tower;
      g.renewed = c.renewed;
      g.trigger_recency = c.trigger;
      if (tables_.stats != nullptr) {
        if (max_pop > 0) g.popularity = tables_.stats->Popularity(sc.key) / max_pop;
        if (auto st = tables_.stats->Get(sc.key)) {
          g.count = st->count;
          g.decayed = st->popularity;
          g.sampling_prob = st->sampling_prob;
          if (now_ms > 0 && st->updated_ts_ms > 0) {
            g.age_hours = static_cast<double>(std::max<int64_t>(0, now_ms - st->updated_ts_ms)) /
                          3'600'000.0;
          }
        }
      }
      if (window_items > 0) {
        if (c.info == nullptr) c.info = tables_.catalog->Get(sc.key);
        if (c.info != nullptr) {
          if (auto it = window_categories.find(c.info->category);
              !c.info->category.empty() && it != window_categories.end()) {
            g.category_affinity = it->second / window_items;
          }
          if (auto it = window_brands.find(c.info->brand);
              !c.info->brand.empty() && it != window_brands.end()) {
            g.brand_affinity = it->second / window_items;
          }
        }
      }
    }
    std::vector<float> features;
    RankerFeatures(signals, &features);
    if (ranker != nullptr && ranker->shape().num_features == kRankerFeatures) {
      std::vector<float> ranked(depth);
      ranker->Score(features.data(), depth, ranked.data());
      for (size_t i = 0; i < depth; ++i) scored[i].score = ranked[i];
      std::sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(depth), by_score);
    }
    if (capture != nullptr) {
      capture->item_keys = std::move(keys);
      capture->features = std::move(features);
      capture->ranked = ranker != nullptr;
    }
  }

  // Rerank for diversity and cut to k. An item over a cap is set aside, not dropped: when
  // the items within the caps run out before k, the set-aside ones fill the list back to
  // k in score order (the caps shape the list, they never shorten it).
  std::vector<ScoredItem> out;
  out.reserve(std::min(k, scored.size()));
  auto emit = [&](const Scored& s) {
    out.push_back({s.key, std::string(s.c->id()), s.score, s.c->sources});
  };
  const bool capped = (options_.max_per_category > 0 || options_.max_per_brand > 0) &&
                      tables_.catalog != nullptr;
  std::unordered_map<std::string_view, size_t> per_category;
  std::unordered_map<std::string_view, size_t> per_brand;
  std::vector<size_t> set_aside;  // positions in `scored`, score order; at most k needed
  for (size_t pos = 0; pos < scored.size() && out.size() < k; ++pos) {
    if (pos == head && !tail_sorted) {
      std::sort(scored.begin() + static_cast<std::ptrdiff_t>(head), scored.end(), by_score);
      tail_sorted = true;
    }
    // The catalogue row (category, brand) of the items the rerank walks: a few times k.
    Candidate& cand = *scored[pos].c;
    if (capped && cand.info == nullptr) cand.info = tables_.catalog->Get(scored[pos].key);
    const CatalogItem* c = cand.info.get();
    if (capped && c != nullptr) {
      const bool over_category = options_.max_per_category > 0 && !c->category.empty() &&
                                 per_category[c->category] >= options_.max_per_category;
      const bool over_brand = options_.max_per_brand > 0 && !c->brand.empty() &&
                              per_brand[c->brand] >= options_.max_per_brand;
      if (over_category || over_brand) {
        if (set_aside.size() < k) set_aside.push_back(pos);
        continue;
      }
      if (!c->category.empty()) ++per_category[c->category];
      if (!c->brand.empty()) ++per_brand[c->brand];
    }
    emit(scored[pos]);
  }
  for (size_t i = 0; i < set_aside.size() && out.size() < k; ++i) emit(scored[set_aside[i]]);
  return out;
}

Result<std::vector<ScoredItem>> Recommender::Similar(uint64_t item_key, size_t k,
                                                     const TwoTowerModel* model) const {
  std::unordered_map<uint64_t, Candidate> cands;
  bool known = false;
  std::shared_ptr<const NeighborList> nb;  // the candidates' ids point into it
  if (tables_.neighbors != nullptr) {
    nb = tables_.neighbors->Get(item_key);
    if (nb != nullptr) {
      known = true;
      const size_t m = std::min(options_.cooc_neighbors_per_item, nb->size());
      for (size_t j = 0; j < m; ++j) {
        Candidate& c = cands[nb->key(j)];
        if (c.needs_id()) c.SetInternedId(nb->interned_id(j));
        c.cooc += nb->score(j);
        c.sources |= kChannelCooc;
      }
      CountRecall(kChannelCooc, m);
    }
  }
  const float* query = nullptr;
  if (model != nullptr) {
    const int64_t row = model->items().Find(item_key);
    if (row >= 0) {
      known = true;
      query = model->items().row(static_cast<size_t>(row));
      const auto hits = model->index().Search(query, options_.two_tower_candidates + 1);
      for (const auto& hit : hits) {
        Candidate& c = cands[model->items().key(hit.row)];
        if (c.needs_id()) c.SetId(model->items().id(hit.row));
        c.sources |= kChannelTwoTower;
      }
      CountRecall(kChannelTwoTower, hits.size());
    }
  }
  if (!known) return Status::NotFound("no neighbours or embedding for this item");
  cands.erase(item_key);
  double max_cooc = 0;
  for (const auto& [key, c] : cands) max_cooc = std::max(max_cooc, c.cooc);
  std::vector<ScoredItem> scored;
  for (auto& [key, c] : cands) {
    if (tables_.catalog != nullptr) {
      const std::optional<bool> available = tables_.catalog->Available(key);
      if (available.has_value() ? !*available : options_.require_in_catalogue) continue;
    }
    double score = 0;
    if (max_cooc > 0) score += options_.cooc_weight * (c.cooc / max_cooc);
    if (query != nullptr) {
      const int64_t row = model->items().Find(key);
      if (row >= 0) {
        score += options_.two_tower_weight * model->blend_scale() *
                 static_cast<double>(model->items().Dot(query, static_cast<size_t>(row)));
      }
    }
    scored.push_back({key, std::string(c.id()), score, c.sources});
  }
  std::sort(scored.begin(), scored.end(), ByScoreThenId);
  if (scored.size() > k) scored.resize(k);
  return scored;
}

}  // namespace streamrec::serving
