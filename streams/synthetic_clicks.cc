#include "streams/synthetic_clicks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "core/id_hash.h"

namespace streamrec {
namespace {

uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::string Numbered(const char* prefix, int n, int width) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%0*d", prefix, width, n);
  return buf;
}

std::vector<double> Cumulative(const std::vector<double>& weights) {
  std::vector<double> cdf(weights.size());
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    sum += weights[i];
    cdf[i] = sum;
  }
  return cdf;
}

// "Compact Desk Lamp 42": an adjective by index, a noun by cluster, the item's number.
std::string SyntheticTitle(int index, int cluster) {
  static const char* const kAdjectives[] = {
      "Classic", "Compact", "Deluxe", "Everyday", "Lightweight", "Vintage", "Pro", "Eco",
      "Mini",    "Rugged",  "Modern", "Travel",   "Premium",     "Basic",   "Handmade", "Smart"};
  static const char* const kNouns[] = {
      "Trail Shoes", "Espresso Maker", "Desk Lamp",  "Yoga Mat",     "Backpack",
      "Headphones",  "Cast-Iron Pan",  "Wool Scarf", "Board Game",   "Water Bottle",
      "Notebook",    "Rain Jacket",    "Plant Pot",  "Bike Light",   "Tea Set",
      "Keyboard",    "Sunglasses",     "Cookbook",   "Scented Candle", "Tent"};
  constexpr int kNumAdjectives = sizeof(kAdjectives) / sizeof(kAdjectives[0]);
  constexpr int kNumNouns = sizeof(kNouns) / sizeof(kNouns[0]);
  return std::string(kAdjectives[(index * 7) % kNumAdjectives]) + " " + kNouns[cluster % kNumNouns] +
         " " + std::to_string(index);
}

}  // namespace

SyntheticClickGenerator::SyntheticClickGenerator(const SyntheticOptions& options)
    : options_(options) {
  options_.num_items = std::max(1, options_.num_items);
  options_.num_users = std::max(1, options_.num_users);
  options_.num_clusters = std::clamp(options_.num_clusters, 1, options_.num_items);
  options_.categories_per_cluster = std::max(1, options_.categories_per_cluster);
  options_.num_brands = std::max(1, options_.num_brands);
  options_.clusters_per_user = std::clamp(options_.clusters_per_user, 1, options_.num_clusters);
  options_.mean_session_events = std::max(1.0, options_.mean_session_events);
  uint64_t sm = options_.seed;
  for (auto& s : state_) s = SplitMix64(&sm);

  // Items: global popularity rank = index; clusters by a seeded permutation so that every
  // cluster has popular and rare items.
  const int n = options_.num_items;
  std::vector<int> perm(n);
  for (int i = 0; i < n; ++i) perm[i] = i;
  for (int i = n - 1; i > 0; --i) std::swap(perm[i], perm[NextU64() % (i + 1)]);
  items_.resize(n);
  cluster_items_.assign(options_.num_clusters, {});
  std::vector<double> global_weights(n);
  for (int i = 0; i < n; ++i) {
    SyntheticItem& item = items_[i];
    item.global_rank = i;
    item.popularity = 1.0 / std::pow(i + 1.0, options_.zipf_exponent);
    global_weights[i] = item.popularity;
    item.cluster = perm[i] % options_.num_clusters;
    item.catalog.item_id = Numbered("item-", i, 5);
    item.catalog.item_key = HashId(item.catalog.item_id);
    item.catalog.brand = Numbered("brand-", static_cast<int>(NextU64() % options_.num_brands), 2);
    item.catalog.available = Uniform() >= options_.unavailable_fraction;
    // A readable title for the storefront: the noun follows the taste cluster, so a
    // cluster's items look related; drawn from the index, not the RNG, so the event
    // stream is the same with or without titles.
    item.catalog.title = SyntheticTitle(i, item.cluster);
  }
  // Indices in increasing rank: cluster lists are most popular first.
  for (int i = 0; i < n; ++i) {
    auto& members = cluster_items_[items_[i].cluster];
    const int j = static_cast<int>(members.size()) % options_.categories_per_cluster;
    items_[i].catalog.category = Numbered("c", items_[i].cluster, 2) + "-" + std::to_string(j);
    members.push_back(i);
  }
  global_cdf_ = Cumulative(global_weights);
  cluster_cdf_.resize(options_.num_clusters);
  for (int c = 0; c < options_.num_clusters; ++c) {
    std::vector<double> w;
    for (int i : cluster_items_[c]) w.push_back(items_[i].popularity);
    cluster_cdf_[c] = Cumulative(w);
  }
  event_cdf_ = Cumulative(
      {options_.event_mix[0], options_.event_mix[1], options_.event_mix[2], options_.event_mix[3]});

  // Users and their interest clusters (a partial Fisher-Yates draw without replacement).
  users_.resize(options_.num_users);
  user_state_.resize(options_.num_users);
  std::vector<int> clusters(options_.num_clusters);
  for (int u = 0; u < options_.num_users; ++u) {
    users_[u].user_id = Numbered("user-", u, 5);
    for (int c = 0; c < options_.num_clusters; ++c) clusters[c] = c;
    for (int k = 0; k < options_.clusters_per_user; ++k) {
      const int pick = k + static_cast<int>(NextU64() % (options_.num_clusters - k));
      std::swap(clusters[k], clusters[pick]);
      users_[u].clusters.push_back(clusters[k]);
    }
    user_state_[u].next_ts_ms =
        options_.start_ts_ms + static_cast<int64_t>(Uniform() * options_.mean_session_gap_ms);
    StartSession(u);
    heap_.emplace(user_state_[u].next_ts_ms, u);
  }
}

uint64_t SyntheticClickGenerator::NextU64() {  // xoshiro256**
  const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = Rotl(state_[3], 45);
  return result;
}

double SyntheticClickGenerator::Uniform() { return (NextU64() >> 11) * 0x1.0p-53; }

double SyntheticClickGenerator::Exponential(double mean) { return -mean * std::log1p(-Uniform()); }

int SyntheticClickGenerator::PickIndex(const std::vector<double>& cdf) {
  const double x = Uniform() * cdf.back();
  auto it = std::upper_bound(cdf.begin(), cdf.end(), x);
  if (it == cdf.end()) --it;
  return static_cast<int>(it - cdf.begin());
}

void SyntheticClickGenerator::StartSession(int u) {
  UserState& s = user_state_[u];
  s.remaining_in_session = 1 + static_cast<int>(Exponential(options_.mean_session_events - 1));
  const auto& cl = users_[u].clusters;
  s.session_cluster = cl[NextU64() % cl.size()];
  ++s.session_no;
}

ClickEvent SyntheticClickGenerator::Next() {
  const auto [ts, u] = heap_.top();
  heap_.pop();
  UserState& s = user_state_[u];
  ClickEvent e;
  e.user_id = users_[u].user_id;
  int item;
  if (options_.funnel_revisit_prob > 0) {
    std::tie(item, e.event) = NextFunnelEvent(&s);
  } else {
    item = DrawItem(s);
    e.event = static_cast<EventType>(PickIndex(event_cdf_));
  }
  e.item_id = items_[item].catalog.item_id;
  e.ts_ms = ts;
  e.session_id = e.user_id + "-s" + std::to_string(s.session_no);
  e.user_key = HashId(e.user_id);
  e.item_key = HashId(e.item_id);
  if (--s.remaining_in_session > 0) {
    s.next_ts_ms = ts + 1 + static_cast<int64_t>(Exponential(options_.mean_event_gap_ms));
  } else {
    s.next_ts_ms =
        ts + 30 * 60 * 1000 + static_cast<int64_t>(Exponential(options_.mean_session_gap_ms));
    StartSession(u);
  }
  heap_.emplace(s.next_ts_ms, u);
  ++generated_;
  return e;
}

int SyntheticClickGenerator::DrawItem(const UserState& s) {
  if (Uniform() < options_.in_cluster_prob) {
    const int c = s.session_cluster;
    return cluster_items_[c][PickIndex(cluster_cdf_[c])];
  }
  return PickIndex(global_cdf_);
}

std::pair<int, EventType> SyntheticClickGenerator::NextFunnelEvent(UserState* s) {
  if (!s->open.empty() && Uniform() < options_.funnel_revisit_prob) {
    const size_t i = NextU64() % s->open.size();
    auto [item, step] = s->open[i];
    s->open.erase(s->open.begin() + static_cast<std::ptrdiff_t>(i));
    if (step != EventType::kPurchase && Uniform() < options_.funnel_advance_prob) {
      step = static_cast<EventType>(static_cast<int>(step) + 1);
    }
    if (step == EventType::kPurchase) {
      s->bought.push_back(item);
      if (s->bought.size() > 1000) s->bought.erase(s->bought.begin());
    } else {
      s->open.emplace_back(item, step);  // the newest open item now
    }
    return {item, step};
  }
  // A fresh draw, never one the user bought (a few redraws) and preferably not an open
  // one.
  int item = DrawItem(*s);
  auto taken = [&](int x) {
    return std::find(s->bought.begin(), s->bought.end(), x) != s->bought.end() ||
           std::any_of(s->open.begin(), s->open.end(), [x](const auto& o) { return o.first == x; });
  };
  for (int tries = 0; tries < 8 && taken(item); ++tries) item = DrawItem(*s);
  if (std::find(s->bought.begin(), s->bought.end(), item) != s->bought.end()) {
    // Every redraw was bought already: a bought item may only be viewed again, rarely.
    return {item, EventType::kView};
  }
  // An open item drawn again keeps its step (a repeat); a new one starts with a view.
  EventType step = EventType::kView;
  for (auto it = s->open.begin(); it != s->open.end(); ++it) {
    if (it->first != item) continue;
    step = it->second;
    s->open.erase(it);
    break;
  }
  s->open.emplace_back(item, step);
  const size_t cap = static_cast<size_t>(std::max(1, options_.funnel_open_items));
  if (s->open.size() > cap) s->open.erase(s->open.begin());
  return {item, step};
}

int SyntheticClickGenerator::ClusterOfItem(const std::string& item_id) const {
  // item ids are "item-NNNNN" with NNNNN the index.
  if (item_id.size() < 6 || item_id.compare(0, 5, "item-") != 0) return -1;
  int idx = 0;
  for (size_t i = 5; i < item_id.size(); ++i) {
    if (item_id[i] < '0' || item_id[i] > '9') return -1;
    idx = idx * 10 + (item_id[i] - '0');
    if (idx >= options_.num_items) return -1;
  }
  if (items_[idx].catalog.item_id != item_id) return -1;
  return items_[idx].cluster;
}

std::vector<std::string> SyntheticClickGenerator::PlantedNeighbors(const std::string& item_id,
                                                                   int k) const {
  std::vector<std::string> out;
  const int c = ClusterOfItem(item_id);
  if (c < 0) return out;
  for (int i : cluster_items_[c]) {
    if (static_cast<int>(out.size()) >= k) break;
    if (items_[i].catalog.item_id != item_id) out.push_back(items_[i].catalog.item_id);
  }
  return out;
}

}  // namespace streamrec
