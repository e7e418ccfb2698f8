#include "batch/batch_job.h"

#include <chrono>

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
                                     const StopFn& stop, const ProgressFn& progress) {
  if (options.root.empty()) return Status::InvalidArgument("no output directory for the batch view");
  const auto start = std::chrono::steady_clock::now();
  auto builder = VersionBuilder::Begin(options.root);
  if (!builder.ok()) return builder.status();
  operators::BatchViewBuilder view(options.view);
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
  auto written = operators::WriteItemStateDb(view, file_system::JoinPath((*builder)->dir(), kViewDirName), stop);
  if (!written.ok()) return written.status();

  BatchManifest m;
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
