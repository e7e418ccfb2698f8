#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/records.h"
#include "core/status.h"
#include "eval/local_task_runner.h"
#include "operators/item_stage.h"
#include "operators/lambda.h"
#include "operators/user_stage.h"
#include "serving/recommendation_service.h"
#include "serving/two_tower_loader.h"
#include "streams/catalog.h"
#include "streams/click_event.h"
#include "training/offline_examples.h"
#include "training/trainer.h"

namespace streamrec::eval {

// What the served system is made of (each part's options, as built from the config).
struct ServedPipelineOptions {
  operators::UserStageOptions user_stage;
  operators::ItemStageOptions item_stage;
  serving::RecommendationServiceOptions service;
  serving::TwoTowerLoaderOptions loader;
  training::TrainerOptions trainer;
  // Catalogue rows for serving's table (may be empty).
  std::vector<CatalogItem> catalog;
  // Feed every training example to the trainer as it is produced (online, as the
  // trainer stage does). False: no trainer; examples are kept for the caller instead
  // (offline training with epochs, `streamrec eval`).
  bool train_online = true;
  // The lambda merge (`lambda.merge` with a batch layer run every this many delivered
  // events): after every `batch_every_events` events the batch layer's code
  // (operators::BatchViewBuilder) recomputes the item views of every event the user stage
  // consumed so far and writes them in the item stage's layout; the item stage adopts the
  // view at its next commit (operators/lambda.h) and rebuilds its lists exactly. 0
  // (default): the speed layer alone.
  int64_t batch_every_events = 0;
};

// Gives `trainer` the category and brand of every catalogue row that has one (the trainer
// stage does the same from the `items` topic), for the item tower's side features
// (trainer.item_side_features); a no-op when the model has no side tables.
void FeedCatalog(const std::vector<CatalogItem>& catalog, training::Trainer* trainer);

// A training example as the trainer stage would see it, with the item's p̂ from the
// item stage's item-stats at that moment.
using CollectedExample = training::OfflineExample;

// The served system in one process, without a broker: the REAL user-stage and
// item-stage topologies (Processors, RocksDB stores under `dir`, commits with outbox and
// offsets, run by LocalTaskRunner), serving's RecommendationService (tables, user
// history, model registry, recommender), training::Trainer and serving's two-tower
// loader, wired as the topics wire them live: clicks -> user stage; cooc-deltas -> item
// stage; item-neighbors / item-stats -> serving's tables (and p̂ -> trainer);
// training-examples -> trainer; clicks -> serving's user history; snapshots -> loader ->
// registry. Deliver() returns only when every stage has processed the event (a barrier),
// so what a request sees depends on the events alone. One thread.
class ServedPipeline {
 public:
  static Result<std::unique_ptr<ServedPipeline>> Create(const ServedPipelineOptions& options,
                                                       const std::string& dir);
  ~ServedPipeline();

  serving::RecommendationService& service() { return service_; }
  // Null when not training online.
  training::Trainer* trainer() { return trainer_.get(); }

  // One event through every stage; returns when all have processed it.
  Status Deliver(const ClickEvent& event);
  // The event into the user stage and serving's history without a commit: the stages
  // catch up at the next Sync() (as live between flushes). For offline evaluation, where
  // no request comes between events; the final state is the same.
  Status DeliverBuffered(const ClickEvent& event);
  // Commits the user stage, runs its outputs through the item stage and serving, commits.
  Status Sync();
  // Writes a snapshot of `trainer` (the online one when null), loads it through serving's
  // loader (checks and sanity score included) and swaps it in. Returns whether it was
  // swapped in (false: refused, the previous version keeps serving; or nothing trained).
  Result<bool> SwapInSnapshot(int64_t now_ms, training::Trainer* trainer = nullptr);
  // The same for a snapshot already written (e.g. trained on another machine): the
  // snapshot directory `dir` (a `v…` directory with its manifest).
  Result<bool> SwapInSnapshotDir(const std::string& dir);
  // Commits and closes the stage tasks.
  Status Close();

  // Examples kept when not training online, in stream order.
  std::vector<CollectedExample>& collected() { return collected_; }
  int64_t rejected_events() const { return rejected_; }
  int64_t models_loaded() const { return loaded_; }
  int64_t models_refused() const { return refused_; }
  // Batch views offered to the item stage (batch_every_events).
  int64_t batch_views() const { return batch_version_; }

 private:
  explicit ServedPipeline(const ServedPipelineOptions& options);
  Status ApplyItemStage(const Record& delta);
  // Loads the snapshot `manifest` names through serving's loader; whether it was swapped in.
  bool SwapIn(const training::SnapshotManifest& manifest);
  Status RouteUserOutputs(std::vector<Record> out, bool* rejected);
  void RecordHistory(const ClickEvent& e);
  // The batch layer over everything consumed so far, offered to the item stage.
  Status RunBatch();

  const ServedPipelineOptions options_;
  TopicNames topics_;
  std::unique_ptr<LocalTaskRunner> user_;
  std::unique_ptr<LocalTaskRunner> item_;
  serving::RecommendationService service_;
  std::unique_ptr<training::Trainer> trainer_;
  std::unordered_map<uint64_t, double> sampling_prob_;
  std::vector<CollectedExample> collected_;
  int64_t rejected_ = 0;
  int64_t loaded_ = 0;
  int64_t refused_ = 0;
  std::string dir_;
  // batch_every_events: the events the user stage accepted, in order; the inbox the item
  // stage adopts from.
  std::vector<ClickEvent> consumed_;
  int64_t since_batch_ = 0;
  int64_t batch_version_ = 0;
  std::shared_ptr<operators::BatchViewInbox> batch_inbox_;
};

// The ranking stage's training example from a request made just before a click: the
// candidates `capture` holds (Recommender's ranker_depth best by the blend, with their
// features) against the clicked item. Fed to `trainer`'s ranker when the clicked item is
// among them (true); a click recall missed teaches the ranker nothing (false).
Result<bool> AddRankingExample(training::Trainer* trainer, const serving::RankerCapture& capture,
                               uint64_t clicked_key);
// The same, kept in `lists` to train later.
bool MakeRankingList(const serving::RankerCapture& capture, uint64_t clicked_key,
                     training::RankingList* list);

// A scratch directory: `wanted` (created) or a fresh one under the temp dir that is
// removed with this object.
class ScratchDir {
 public:
  static Result<ScratchDir> Make(const std::string& wanted, const std::string& prefix);
  ScratchDir() = default;
  ScratchDir(ScratchDir&& o) noexcept;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool owned_ = false;
};

}  // namespace streamrec::eval
