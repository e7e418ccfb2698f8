#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "eval/baselines.h"
#include "operators/item_stage.h"
#include "operators/user_stage.h"
#include "serving/recommendation_service.h"
#include "serving/two_tower_loader.h"
#include "streams/catalog.h"
#include "streams/click_event.h"
#include "training/trainer.h"

namespace streamrec::eval {

// Options of the prequential harness. FromConfig() builds every stage's options from the
// same config keys `streamrec run` and `streamrec stage` use (operators.*, serving.*,
// trainer.*), so the harness measures the served configuration.
struct PrequentialOptions {
  // "served" (the served recommender over the real stages), or a baseline: "top", "mc",
  // "itemknn" (eval/baselines.h).
  std::string model = "served";
  size_t k = 10;
  // Events per point of the curve over time.
  int64_t window_events = 5000;
  // The trainer writes a snapshot every this many events; serving's loader loads it and
  // the registry swaps it in (0: no model is ever served).
  int64_t snapshot_every_events = 5000;
  // The lambda merge with a batch layer run every this many events
  // (ServedPipelineOptions::batch_every_events); 0 (default): the speed layer alone.
  int64_t batch_every_events = 0;
  // Scratch directory for the stages' RocksDB and the model store; empty: a fresh
  // directory under the system temp dir, removed at the end.
  std::string work_dir;
  // Catalogue published to serving's table before the first event (may be empty).
  std::vector<CatalogItem> catalog;

  operators::UserStageOptions user_stage;
  operators::ItemStageOptions item_stage;
  serving::RecommendationServiceOptions service;
  serving::TwoTowerLoaderOptions loader;
  training::TrainerOptions trainer;
  ItemKnnOptions itemknn;

  static Result<PrequentialOptions> FromConfig(const Config& config);
};

// Accumulated test-then-train metrics over a set of events.
struct PrequentialMetrics {
  int64_t events = 0;
  double hits = 0;  // sum of hit (0/1) at k
  double ndcg = 0;  // sum of 1/log2(rank + 1), rank 1-based, 0 beyond k
  double rr = 0;    // sum of 1/rank within k (MRR@k)

  void Add(int rank);  // rank 1-based, 0 = not in the list
  double hit_rate() const { return events > 0 ? hits / static_cast<double>(events) : 0; }
  double mean_ndcg() const { return events > 0 ? ndcg / static_cast<double>(events) : 0; }
  double mrr() const { return events > 0 ? rr / static_cast<double>(events) : 0; }
};

struct PrequentialWindow {
  int64_t end_event = 0;  // events [end_event - metrics.events, end_event)
  PrequentialMetrics metrics;
  int64_t model_version = 0;  // model served at the window's last request
};

struct PrequentialReport {
  // "blend" (the served recommender, every channel), the channels of an ablation
  // ("cooc"), or the baseline's name.
  std::string model;
  std::string channels;
  size_t k = 10;
  PrequentialMetrics all;
  // Events whose user and item both occurred earlier in the stream.
  PrequentialMetrics warm;
  std::vector<PrequentialWindow> windows;
  // Distinct items ever recommended / distinct items in the stream.
  int64_t items_recommended = 0;
  int64_t items_in_stream = 0;
  double coverage() const {
    return items_in_stream > 0
               ? static_cast<double>(items_recommended) / static_cast<double>(items_in_stream)
               : 0;
  }
  int64_t models_loaded = 0;
  int64_t models_refused = 0;
  int64_t train_steps = 0;
  // Ranking stage lists given to the trainer (serving.ranker.enabled): requests whose
  // clicked item was among the ranker's candidates.
  int64_t ranking_lists = 0;
  int64_t rejected_events = 0;  // routed to the DLQ by the user stage
  double seconds = 0;

  std::string ToJson() const;
  // "prequential MODEL: N events, HitRate@10 X, NDCG@10 Y, MRR Z, coverage C" (keeps the
  // `HitRate@10 X` form of earlier reports).
  std::string SummaryLine() const;
};

// Called after each window (for progress output); may be empty.
using WindowCallback = std::function<void(const PrequentialWindow&)>;

// The prequential (test-then-train) evaluation, in process and deterministic. For each
// event, in the given order:
//   1. ask for the user's top-k: the served recommender (serving::RecommendationService,
//      the code `streamrec stage serving` answers with, seen items filtered as served) or
//      a baseline; score the event's item against the list;
//   2. deliver the event and wait until EVERY stage has processed it (a barrier): the
//      real user-stage topology (its Processor, RocksDB, commit) consumes it; its
//      cooc-deltas go to the real item-stage topology; the item stage's item-neighbors
//      and item-stats are applied to serving's tables; its training example (and the
//      item stats' p̂) go to training::Trainer; serving's user history records it;
//   3. every snapshot_every_events events, the trainer writes a snapshot, serving's
//      two-tower loader loads and validates it and the model registry swaps it in.
// Nothing depends on rate, threads or machine load: two runs give the same report.
Result<PrequentialReport> RunPrequential(const std::vector<ClickEvent>& events,
                                         const PrequentialOptions& options,
                                         const WindowCallback& on_window = {});

}  // namespace streamrec::eval
