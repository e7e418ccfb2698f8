#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "streams/catalog.h"
#include "streams/click_event.h"

namespace streamrec {

// Parameters of the synthetic click stream. The defaults give a small shop whose planted
// structure later stages should recover.
struct SyntheticOptions {
  uint64_t seed = 42;  // same seed, same stream, on every machine
  int num_items = 1000;
  int num_users = 500;
  int num_clusters = 10;           // latent interest clusters ("taste groups")
  int categories_per_cluster = 2;  // each category belongs to exactly one cluster
  int num_brands = 40;
  int clusters_per_user = 2;     // how many clusters each user browses within
  double zipf_exponent = 1.1;    // item popularity ∝ 1 / rank^s (global rank)
  double in_cluster_prob = 0.9;  // P(an event stays in the session's cluster); else a
                                 // globally popular item (noise)
  double mean_session_events = 8;
  int64_t mean_event_gap_ms = 20'000;       // within a session (exponential)
  int64_t mean_session_gap_ms = 3'600'000;  // between a user's sessions (exponential, + 30 min)
  int64_t start_ts_ms = 1'732'270'000'000;  // event time of the first sessions
  double unavailable_fraction = 0.02;       // items marked available=false in the catalogue
  // Event-type mix: view, click, add_to_cart, purchase (normalised). Not used with funnels.
  double event_mix[4] = {0.55, 0.30, 0.10, 0.05};
  // Shopping funnels (0 = off: every event draws a fresh item and an event type from
  // event_mix, the stream of earlier versions). When > 0, a new item starts with a view,
  // and with this probability an event instead returns to one of the user's open items
  // (acted on, not bought; the newest `funnel_open_items`), in a later session too
  // (renewed interest): it moves one step down view → click → add_to_cart → purchase
  // with probability funnel_advance_prob, else repeats its step. A bought item leaves
  // the funnel and is not drawn for that user again (up to 8 redraws; should all of them
  // be bought items, the last is a mere view; the newest 1,000 bought items are kept).
  double funnel_revisit_prob = 0;
  double funnel_advance_prob = 0.5;
  int funnel_open_items = 10;
};

// The ground truth of one item.
struct SyntheticItem {
  CatalogItem catalog;  // item_id "item-00042", category "c03-1", brand "brand-07",
                        // title "Pro Desk Lamp 42" (noun by cluster)
  int cluster = 0;
  int global_rank = 0;    // 0 = most popular overall
  double popularity = 0;  // unnormalised Zipf weight 1/(rank+1)^s
};

struct SyntheticUser {
  std::string user_id;        // "user-00007"
  std::vector<int> clusters;  // the user's interest clusters
};

// Deterministic synthetic click stream with planted structure: Zipf item popularity,
// categories and brands, users who browse within a few latent clusters, sessions with
// time gaps. Events come out in non-decreasing event-time order across users. All
// randomness is our own seeded xoshiro256** with our own sampling (no std::*_distribution,
// whose output differs between standard libraries). Thread-compatible.
class SyntheticClickGenerator {
 public:
  explicit SyntheticClickGenerator(const SyntheticOptions& options);

  const SyntheticOptions& options() const { return options_; }
  const std::vector<SyntheticItem>& items() const { return items_; }
  const std::vector<SyntheticUser>& users() const { return users_; }

  // The truth, for tests of later stages:
  // the cluster of an item (-1 if unknown);
  int ClusterOfItem(const std::string& item_id) const;
  // the items of a cluster, most popular first;
  const std::vector<int>& ItemsOfCluster(int cluster) const { return cluster_items_[cluster]; }
  // an item's planted neighbours: the k most popular other items of its cluster, which are
  // the items it co-occurs with most in expectation (sessions stay in one cluster).
  std::vector<std::string> PlantedNeighbors(const std::string& item_id, int k) const;

  // The next event (never fails; the stream is infinite).
  ClickEvent Next();
  int64_t events_generated() const { return generated_; }

 private:
  struct UserState {
    int64_t next_ts_ms = 0;
    int remaining_in_session = 0;
    int session_cluster = 0;
    int session_no = 0;
    // Funnels only: open items (item index, step reached), oldest first; bought items.
    std::vector<std::pair<int, EventType>> open;
    std::vector<int> bought;
  };
  // The item and event type of a user's next event with funnels on.
  std::pair<int, EventType> NextFunnelEvent(UserState* s);
  int DrawItem(const UserState& s);
  uint64_t NextU64();
  double Uniform();  // [0, 1)
  double Exponential(double mean);
  int PickIndex(const std::vector<double>& cdf);  // binary search on a cumulative table
  void StartSession(int user);

  SyntheticOptions options_;
  uint64_t state_[4];  // xoshiro256** state, seeded by splitmix64
  std::vector<SyntheticItem> items_;
  std::vector<SyntheticUser> users_;
  std::vector<std::vector<int>> cluster_items_;
  std::vector<std::vector<double>> cluster_cdf_;
  std::vector<double> global_cdf_;
  std::vector<double> event_cdf_;
  std::vector<UserState> user_state_;
  // Min-heap of (next event time, user).
  std::priority_queue<std::pair<int64_t, int>, std::vector<std::pair<int64_t, int>>, std::greater<>>
      heap_;
  int64_t generated_ = 0;
};

}  // namespace streamrec
