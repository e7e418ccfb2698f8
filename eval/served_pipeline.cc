#include "eval/served_pipeline.h"

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "operators/batch_view_store.h"

namespace streamrec::eval {
namespace fs = std::filesystem;

Result<ScratchDir> ScratchDir::Make(const std::string& wanted, const std::string& prefix) {
  ScratchDir d;
  if (!wanted.empty()) {
    std::error_code ec;
    fs::create_directories(wanted, ec);
    if (ec) return Status::IoError("cannot create " + wanted + ": " + ec.message());
    d.path_ = wanted;
    return d;
  }
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) return Status::IoError("cannot create a temp dir");
  d.path_ = tmpl;
  d.owned_ = true;
  return d;
}

ScratchDir::ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)), owned_(o.owned_) {
  o.owned_ = false;
}

ScratchDir::~ScratchDir() {
  if (!owned_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

ServedPipeline::ServedPipeline(const ServedPipelineOptions& options)
    : options_(options), service_(options.service) {}

ServedPipeline::~ServedPipeline() = default;

Result<std::unique_ptr<ServedPipeline>> ServedPipeline::Create(
    const ServedPipelineOptions& options, const std::string& dir) {
  std::unique_ptr<ServedPipeline> p(new ServedPipeline(options));
  operators::UserStageOptions user = options.user_stage;
  user.item_partitions = 1;  // one item-stage task owns every item
  user.emit_training_examples = true;
  user.max_future_ms = 0;  // the runner's clock stands still; histories are replayed
  p->topics_ = user.topics;
  auto user_runner = LocalTaskRunner::Open(operators::UserStageTopology(user), dir + "/state");
  if (!user_runner.ok()) return user_runner.status();
  p->user_ = std::move(user_runner).value();
  operators::ItemStageOptions item = options.item_stage;
  item.publish = true;
  p->dir_ = dir;
  if (options.batch_every_events > 0) {
    item.merge_batch_views = true;
    p->batch_inbox_ = std::make_shared<operators::BatchViewInbox>();
    item.batch_views = p->batch_inbox_;
  }
  auto item_runner = LocalTaskRunner::Open(operators::ItemStageTopology(item), dir + "/state");
  if (!item_runner.ok()) return item_runner.status();
  p->item_ = std::move(item_runner).value();
  for (const CatalogItem& c : options.catalog) p->service_.catalog().Put(c);
  p->service_.Publish();
  p->service_.SetTablesLoaded(true);
  if (options.train_online) {
    training::TrainerOptions t = options.trainer;
    t.model_dir = dir + "/models";
    t.resume = false;
    if (t.keep_snapshots <= 0 || t.keep_snapshots > 2) t.keep_snapshots = 2;
    auto trainer = training::Trainer::Create(t);
    if (!trainer.ok()) return trainer.status();
    p->trainer_ = std::move(trainer).value();
    FeedCatalog(options.catalog, p->trainer_.get());
  }
  return p;
}

void FeedCatalog(const std::vector<CatalogItem>& catalog, training::Trainer* trainer) {
  for (const CatalogItem& c : catalog) {
    if (c.category.empty() && c.brand.empty()) continue;
    const uint64_t key = c.item_key != 0 ? c.item_key : HashId(c.item_id);
    trainer->SetItemCatalog(key, c.item_id, c.category.empty() ? 0 : HashId(c.category),
                            c.brand.empty() ? 0 : HashId(c.brand));
  }
}

namespace {

Record ClickRecord(const ClickEvent& e) {
  Record click;
  click.key = e.user_id;
  click.has_key = true;
  click.value = EncodeClickEvent(e);
  click.timestamp_ms = e.ts_ms;
  return click;
}

}  // namespace

Status ServedPipeline::Deliver(const ClickEvent& e) {
  auto out = user_->Process(ClickRecord(e));
  if (!out.ok()) return out.status().WithContext("user stage");
  bool rejected = false;
  STREAMREC_RETURN_IF_ERROR(RouteUserOutputs(std::move(out).value(), &rejected));
  if (!rejected) RecordHistory(e);
  service_.Publish();
  if (options_.batch_every_events > 0) {
    if (!rejected) {
      ClickEvent c = e;
      if (c.user_key == 0) c.user_key = HashId(c.user_id);
      if (c.item_key == 0) c.item_key = HashId(c.item_id);
      consumed_.push_back(std::move(c));
    }
    if (++since_batch_ >= options_.batch_every_events) {
      since_batch_ = 0;
      STREAMREC_RETURN_IF_ERROR(RunBatch().WithContext("batch layer"));
    }
  }
  return Status::Ok();
}

Status ServedPipeline::RunBatch() {
  operators::BatchViewOptions bo;
  bo.window = options_.user_stage.window;
  bo.cooc = options_.user_stage.cooc;
  bo.similarity = options_.item_stage.similarity;
  bo.top_k = options_.item_stage.top_k;
  bo.popularity_half_life_ms = options_.item_stage.popularity_half_life_ms;
  bo.estimator = options_.item_stage.estimator;
  operators::BatchViewBuilder builder(bo);
  for (const ClickEvent& c : consumed_) builder.Add(c);
  operators::BatchViewRef ref;
  ref.version = ++batch_version_;
  ref.view_dir = dir_ + "/batch-v" + std::to_string(ref.version);
  ref.cutoff[0] = user_->records_processed();  // every commit ends a part: a boundary
  auto written = operators::WriteItemStateDb(builder, ref.view_dir);
  if (!written.ok()) return written.status();
  batch_inbox_->Offer(ref);
  // The version before the previous one was adopted (a view is adopted at the item
  // stage's next commit) or superseded: its files are no longer read.
  if (ref.version > 2) {
    STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(dir_ + "/batch-v" + std::to_string(ref.version - 2)));
  }
  return Status::Ok();
}

Status ServedPipeline::DeliverBuffered(const ClickEvent& e) {
  STREAMREC_RETURN_IF_ERROR(user_->ProcessOnly(ClickRecord(e)).WithContext("user stage"));
  // A rejected event is counted at Sync() (its DLQ record); serving's parser rejects it
  // too, so only valid events reach the history.
  if (ClickEventParser().Parse(EncodeClickEvent(e)).ok()) RecordHistory(e);
  return Status::Ok();
}

Status ServedPipeline::Sync() {
  auto out = user_->Commit();
  if (!out.ok()) return out.status().WithContext("user stage");
  bool rejected = false;
  STREAMREC_RETURN_IF_ERROR(RouteUserOutputs(std::move(out).value(), &rejected));
  service_.Publish();
  return Status::Ok();
}

void ServedPipeline::RecordHistory(const ClickEvent& e) {
  // Serving's own copy of the user's window, fed from `clicks` as live.
  const uint64_t user_key = e.user_key != 0 ? e.user_key : HashId(e.user_id);
  const uint64_t item_key = e.item_key != 0 ? e.item_key : HashId(e.item_id);
  service_.history().Record(user_key, item_key, e.item_id, e.ts_ms, e.event);
}

Status ServedPipeline::RouteUserOutputs(std::vector<Record> out, bool* rejected) {
  std::vector<const Record*> examples;
  for (const Record& r : out) {
    if (r.topic == topics_.cooc_deltas) {
      STREAMREC_RETURN_IF_ERROR(ApplyItemStage(r));
    } else if (r.topic == topics_.training_examples) {
      examples.push_back(&r);
    } else if (r.topic == topics_.clicks_dlq) {
      *rejected = true;
      ++rejected_;
    }
  }
  for (const Record* r : examples) {
    auto ex = DecodeTrainingExample(r->value);
    if (!ex.ok()) return ex.status().WithContext("training example");
    if (trainer_ != nullptr) {
      STREAMREC_RETURN_IF_ERROR(trainer_->AddExample(*ex));
    } else {
      auto p = sampling_prob_.find(ex->item_key);
      const double prob = p == sampling_prob_.end() ? 0.0 : p->second;
      collected_.push_back(CollectedExample{std::move(ex).value(), prob});
    }
  }
  return Status::Ok();
}

Status ServedPipeline::ApplyItemStage(const Record& delta) {
  auto out = item_->Process(delta);
  if (!out.ok()) return out.status().WithContext("item stage");
  for (const Record& r : *out) {
    std::optional<std::string_view> value;
    if (!r.value.empty()) value = r.value;
    if (r.topic == topics_.item_neighbors) {
      STREAMREC_RETURN_IF_ERROR(service_.neighbors().Apply(r.key, value));
    } else if (r.topic == topics_.item_stats) {
      STREAMREC_RETURN_IF_ERROR(service_.stats().Apply(r.key, value));
      auto stats = DecodeItemStats(r.value);
      if (!stats.ok()) return stats.status().WithContext("item stats");
      if (trainer_ != nullptr) trainer_->UpdateItemStats(*stats);
      sampling_prob_[stats->item_key] = stats->sampling_prob;
    }
  }
  return Status::Ok();
}

Result<bool> ServedPipeline::SwapInSnapshot(int64_t now_ms, training::Trainer* trainer) {
  if (trainer == nullptr) trainer = trainer_.get();
  if (trainer == nullptr || trainer->step() == 0) return false;  // nothing trained yet
  auto manifest = trainer->WriteSnapshot(now_ms);
  if (!manifest.ok()) return manifest.status().WithContext("snapshot");
  return SwapIn(*manifest);
}

Result<bool> ServedPipeline::SwapInSnapshotDir(const std::string& dir) {
  auto manifest = training::ReadSnapshotManifest(dir);
  if (!manifest.ok()) return manifest.status();
  return SwapIn(*manifest);
}

bool ServedPipeline::SwapIn(const training::SnapshotManifest& manifest) {
  std::vector<serving::AspiredVersion<serving::TwoTowerModel>> versions;
  serving::AspiredVersion<serving::TwoTowerModel> v;
  v.version = manifest.version;
  serving::TwoTowerLoaderOptions loader = options_.loader;
  loader.serving = &service_.models();  // compared with the served version, as live
  v.loader = std::make_unique<serving::TwoTowerSnapshotLoader>(
      manifest.dir, manifest.version, manifest.checksum, loader, &service_.history());
  versions.push_back(std::move(v));
  // A refused version (sanity check) leaves the old one serving, as live.
  if (service_.models().SetAspiredVersions(std::move(versions)).ok()) {
    ++loaded_;
    return true;
  }
  ++refused_;
  return false;
}

bool MakeRankingList(const serving::RankerCapture& capture, uint64_t clicked_key,
                     training::RankingList* list) {
  if (capture.item_keys.size() < 2) return false;
  for (size_t i = 0; i < capture.item_keys.size(); ++i) {
    if (capture.item_keys[i] == clicked_key) {
      list->features = capture.features;
      list->positive = i;
      return true;
    }
  }
  return false;
}

Result<bool> AddRankingExample(training::Trainer* trainer, const serving::RankerCapture& capture,
                               uint64_t clicked_key) {
  training::RankingList list;
  if (trainer == nullptr || !MakeRankingList(capture, clicked_key, &list)) return false;
  STREAMREC_RETURN_IF_ERROR(trainer->AddRankingList(list, serving::kRankerFeatures));
  return true;
}

Status ServedPipeline::Close() {
  Status a = user_ ? user_->Close() : Status::Ok();
  Status b = item_ ? item_->Close() : Status::Ok();
  return a.ok() ? b : a;
}

}  // namespace streamrec::eval
