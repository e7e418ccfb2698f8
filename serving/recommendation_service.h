#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "serving/global_tables.h"
#include "serving/model_registry.h"
#include "serving/rec_json.h"
#include "serving/recent_users.h"
#include "serving/recommender.h"
#include "serving/two_tower_model.h"
#include "serving/user_embedding_cache.h"
#include "serving/user_history.h"

namespace streamrec::serving {

struct RecommendationServiceOptions {
  RecommenderOptions recommender;
  UserHistoryOptions history;
  RecRequestLimits limits;
  // Catalogue items kept in the cold-start fallback list.
  size_t fallback_size = 1000;
  // Items kept in the trending list.
  size_t trending_size = 1000;
  // Model registry (label of streamrec_model_version).
  AspiredVersionsManagerOptions models;
  // The per-user cache of the user tower's output (serving.user_embedding_cache.*).
  UserEmbeddingCacheOptions embedding_cache;
};

// What /readyz reports. The stage is ready (200) when it has read its inputs to the end
// offsets they had when it started reading them — the global tables (items,
// item-neighbors, item-stats), the models topic (the latest announced model loaded or
// refused) and its users' clicks (the recent windows) — and it has something to answer
// with: a model or the fallback (trending or catalogue items). Records appended after
// that are followed, not waited for.
struct Readiness {
  bool ready = false;
  bool tables_loaded = false;       // the global tables caught up once
  bool models_loaded = false;       // the models topic caught up once (announcements loaded)
  bool windows_loaded = false;      // this replica's clicks partitions caught up
  int64_t model_version = 0;        // 0: no model loaded
  bool fallback_available = false;  // trending or catalogue items exist
  // Whether a Kafka broker answered the serving operator's last probe (every 2 s). An
  // outage does not make the stage unready: it keeps answering from what it has, and
  // /readyz says so ("kafka_reachable": false) without taking it out of service.
  bool kafka_reachable = true;
  // Why not ready (empty when ready): the first condition missing.
  std::string reason;
};

// The serving layer's state and its request logic, without any transport: the global
// tables, the users' recent windows, the model registry (hot swap) and the recommender.
// The Kafka serving operator and the HTTP API both answer through it. Threads: one
// consumer thread applies table/click updates (then calls Publish()); the models Source
// thread swaps versions; any number of request threads call Recommend()/Similar().
// Thread-safe.
class RecommendationService {
 public:
  using Options = RecommendationServiceOptions;
  explicit RecommendationService(Options options = {});

  ItemCatalog& catalog() { return catalog_; }
  NeighborTable& neighbors() { return neighbors_; }
  StatsTable& stats() { return stats_; }
  UserHistoryStore& history() { return history_; }
  AspiredVersionsManager<TwoTowerModel>& models() { return models_; }
  const Options& options() const { return options_; }
  const ItemCatalog& catalog() const { return catalog_; }
  // Users whose clicks were applied most recently (the storefront's user picker).
  RecentUsers& recent_users() { return recent_users_; }
  const UserEmbeddingCache& embedding_cache() const { return embedding_cache_; }
  const RecentUsers& recent_users() const { return recent_users_; }

  // Publishes the tables' derived lists (trending, fallback) after a batch of updates.
  void Publish();
  // Marks that the global tables have caught up (the consumer reached the end offsets
  // it saw at start).
  void SetTablesLoaded(bool loaded) { tables_loaded_.store(loaded); }
  // The same for the models topic (every announcement up to its end offset at start was
  // loaded or refused) and for the clicks partitions that rebuild the users' windows.
  // Both default to true: a service fed without those consumers (tests, `eval`, benches)
  // does not wait for them; the serving operator sets them false until they caught up.
  void SetModelsLoaded(bool loaded) { models_loaded_.store(loaded); }
  void SetWindowsLoaded(bool loaded) { windows_loaded_.store(loaded); }
  // The serving operator's broker probe (Readiness::kafka_reachable).
  void SetKafkaReachable(bool reachable) { kafka_reachable_.store(reachable); }
  Readiness GetReadiness() const;

  // Answers one request on the version of the model current when it starts; an unknown
  // user gets cold-start items (cold_start=true). Errors: InvalidArgument.
  // `capture` (may be null): the ranking stage's candidates and features
  // (Recommender::Recommend).
  Result<RecResponse> Recommend(const RecRequest& request, RankerCapture* capture = nullptr) const;
  Result<SimilarResponse> Similar(std::string_view item_id, int64_t k) const;

  // One `rec-requests` message in, one `recommendations` message out (an error object
  // for a bad request, so a client is never left without an answer).
  std::string HandleRequestMessage(std::string_view json) const;

 private:
  const Options options_;
  ItemCatalog catalog_;
  NeighborTable neighbors_;
  StatsTable stats_;
  UserHistoryStore history_;
  RecentUsers recent_users_;
  AspiredVersionsManager<TwoTowerModel> models_;
  Recommender recommender_;
  // Request threads (HTTP workers, the Kafka requests thread's request_threads) read and
  // fill it; internally synchronised. Keyed by model version, so a swap invalidates it.
  mutable UserEmbeddingCache embedding_cache_;
  std::atomic<bool> tables_loaded_{false};
  std::atomic<bool> models_loaded_{true};
  std::atomic<bool> windows_loaded_{true};
  std::atomic<bool> kafka_reachable_{true};
};

}  // namespace streamrec::serving
