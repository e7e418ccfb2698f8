#include "batch/batch_job.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "batch/training_input.h"
#include "core/file_system.h"
#include "operators/batch_view_store.h"
#include "operators/item_stage.h"
#include "operators/user_stage.h"

namespace streamrec::batch {

Result<BatchJobOptions> BatchJobOptions::FromConfig(const Config& config) {
  auto user = operators::UserStageOptions::FromConfig(config);
  if (!user.ok()) return user.status();
  auto item = operators::ItemStageOptions::FromConfig(config);
  if (!item.ok()) return item.status();
  BatchJobOptions o;
  o.view.window = user->window;
  o.view.cooc = user->cooc;
  o.view.similarity = item->similarity;
  o.view.top_k = item->top_k;
  o.view.popularity_half_life_ms = item->popularity_half_life_ms;
  o.view.estimator = item->estimator;
  o.max_future_ms = user->max_future_ms;
  return o;
}

Result<BatchManifest> BuildBatchView(const BatchInput& input, const BatchJobOptions& options,
                                     const StopFn& stop, const ProgressFn& progress,
                                     const ModelTrainerFn& train_model) {
  if (options.root.empty()) return Status::InvalidArgument("no output directory for the batch view");
  const auto start = std::chrono::steady_clock::now();
  auto builder = VersionBuilder::Begin(options.root);
  if (!builder.ok()) return builder.status();
  operators::BatchViewBuilder view(options.view);
  const std::string training_input = file_system::JoinPath((*builder)->dir(), kTrainingInputFileName);
  std::unique_ptr<TrainingInputWriter> examples;
  Status example_error;
  if (train_model) {
    auto w = TrainingInputWriter::Create(training_input);
    if (!w.ok()) return w.status();
    examples = std::move(w).value();
    view.set_example_sink([&](const TrainingExample& ex) {
      if (example_error.ok()) example_error = examples->AddExample(ex);
    });
  }
  const int64_t total = static_cast<int64_t>(input.events.size());
  int64_t done = 0;
  for (const ClickEvent& e : input.events) {
    view.Add(e);
    if ((++done & 4095) == 0) {
      if (stop && stop()) return Status::Unavailable("stopped");
      if (progress) progress(done, total);
    }
  }
  if (progress) progress(done, total);
  if (stop && stop()) return Status::Unavailable("stopped");
  if (examples != nullptr) {
    STREAMREC_RETURN_IF_ERROR(example_error);
    std::vector<uint64_t> keys;
    for (const auto& [key, item] : view.items()) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (uint64_t key : keys) {
      const operators::BatchItem& item = view.items().at(key);
      ItemStats s;
      s.item_key = key;
      s.item_id = item.item_id;
      s.count = item.weight;
      s.popularity = item.popularity.value();
      s.sampling_prob = view.estimator().Estimate(key);
      s.updated_ts_ms = item.popularity.ts_ms();
      STREAMREC_RETURN_IF_ERROR(examples->AddItemStats(s));
    }
    STREAMREC_RETURN_IF_ERROR(examples->Close());
  }
  auto written = operators::WriteItemStateDb(view, file_system::JoinPath((*builder)->dir(), kViewDirName), stop);
  if (!written.ok()) return written.status();

  BatchManifest m;
  if (train_model) {
    const auto train_start = std::chrono::steady_clock::now();
    auto model = train_model(training_input, file_system::JoinPath((*builder)->dir(), kModelDirName));
    if (!model.ok()) return model.status();
    STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(training_input));
    m.has_model = true;
    m.model = *model;
    m.model.dir = kModelDirName;
    if (m.model.train_seconds == 0) {
      m.model.train_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
    }
  }
  m.view = options.view_name;
  m.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  m.source = input.source;
  m.records = input.records;
  m.events = static_cast<int64_t>(view.events());
  m.rejected = input.rejected;
  m.items = static_cast<int64_t>(written->items);
  m.pairs = static_cast<int64_t>(written->pairs);
  m.neighbor_lists = static_cast<int64_t>(written->neighbor_lists);
  m.total_weight = view.total_weight();
  m.max_event_ts_ms = view.max_ts_ms();
  m.similarity = operators::SimilarityName(options.view.similarity);
  m.top_k = static_cast<int64_t>(options.view.top_k);
  m.window_size = static_cast<int64_t>(options.view.window.max_items);
  m.window_horizon_ms = options.view.window.horizon_ms;
  m.cooc_half_life_s = options.view.cooc.half_life_s;
  m.popularity_half_life_ms = options.view.popularity_half_life_ms;
  m.estimator_array_size = static_cast<int64_t>(options.view.estimator.array_size);
  m.estimator_hashes = options.view.estimator.num_hashes;
  m.estimator_alpha = options.view.estimator.alpha;
  m.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stop && stop()) return Status::Unavailable("stopped");
  return (*builder)->Commit(std::move(m));
}

}  // namespace streamrec::batch
