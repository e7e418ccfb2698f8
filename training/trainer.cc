#include "training/trainer.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <unordered_map>

#include "core/file_system.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "training/id_table.h"
#include "training/in_batch_loss.h"
#include "training/snapshot_format.h"
#include "training/sparse_row_optimizer.h"
#include "training/two_tower.h"

namespace streamrec::training {

namespace fs = streamrec::file_system;
namespace sf = snapshot_format;

namespace {

struct TrainerMetrics {
  prometheus::Gauge* loss;
  prometheus::Counter* examples;
  prometheus::Counter* steps;
  prometheus::Counter* evictions;
  prometheus::Counter* logq_fallbacks;
  prometheus::Gauge* version;
  prometheus::Histogram* snapshot_seconds;
};

TrainerMetrics& Metrics() {
  static TrainerMetrics m = [] {
    auto reg = MetricsRegistry();
    TrainerMetrics t{};
    t.loss = &prometheus::BuildGauge()
                  .Name("streamrec_trainer_loss")
                  .Help("Loss of the trainer's last optimizer step")
                  .Register(*reg)
                  .Add({});
    t.examples = &prometheus::BuildCounter()
                      .Name("streamrec_trainer_examples_total")
                      .Help("Training examples consumed by the trainer")
                      .Register(*reg)
                      .Add({});
    t.steps = &prometheus::BuildCounter()
                   .Name("streamrec_trainer_steps_total")
                   .Help("Optimizer steps taken")
                   .Register(*reg)
                   .Add({});
    t.evictions = &prometheus::BuildCounter()
                       .Name("streamrec_trainer_id_evictions_total")
                       .Help("Embedding rows reassigned to new ids (LRU eviction)")
                       .Register(*reg)
                       .Add({});
    t.logq_fallbacks = &prometheus::BuildCounter()
                            .Name("streamrec_trainer_logq_fallback_total")
                            .Help("Examples trained with the fallback p-hat (their item had no item-stats)")
                            .Register(*reg)
                            .Add({});
    t.version = &prometheus::BuildGauge()
                     .Name("streamrec_model_version")
                     .Help("Model version in use")
                     .Register(*reg)
                     .Add({{"component", "trainer"}});
    t.snapshot_seconds = &prometheus::BuildHistogram()
                              .Name("streamrec_trainer_snapshot_seconds")
                              .Help("Time to write a model snapshot")
                              .Register(*reg)
                              .Add({}, LatencyBuckets());
    return t;
  }();
  return m;
}

// Written with every snapshot (before the manifest) when the owner set it.
constexpr char kStreamStateFile[] = "stream_state.bin";

// Keys of optimizer.pt beside torch's own: which mode wrote it, and the table optimizer.
constexpr const char* kSparseModeKey = "streamrec.sparse_embeddings";
constexpr const char* kTableOptimizerKey = "streamrec.table_optimizer";

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Trainer::Rep {
  TrainerOptions options;
  torch::Device device{torch::kCPU};
  TwoTowerModel model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;  // every parameter, or the dense ones
  // The embedding tables' optimizer when they are updated sparsely (else null); its
  // parameter order is model->EmbeddingWeights()'s, and the *_table indices name them.
  std::unique_ptr<SparseRowOptimizer> table_optimizer;
  int user_table = -1;  // item table: 0
  TrainerPhaseSeconds phases;
  IdTable users{1};
  IdTable items{1};
  std::unordered_map<uint64_t, std::string> item_names;
  // The catalogue's side features of an item (SetItemCatalog); only kept when the model
  // has side tables. `name`: the catalogue's item id, for items the id table lacks.
  struct ItemSide {
    uint64_t category = 0;
    uint64_t brand = 0;
    std::string name;
  };
  std::unordered_map<uint64_t, ItemSide> item_side;
  std::unordered_map<uint64_t, double> sampling_prob;
  std::vector<TrainingExample> pending;
  std::vector<TrainingExample> replay;  // ring of the last replay_capacity fresh examples
  size_t replay_next = 0;               // where the next one goes once the ring is full
  std::mt19937_64 replay_rng;
  int64_t step = 0;
  int64_t examples = 0;
  int64_t version = 0;
  int64_t watermark_ms = 0;
  double last_loss = 0;
  int64_t last_snapshot_step = 0;
  int64_t last_snapshot_ms = 0;
  int64_t logq_fallbacks = 0;
  std::string stream_state;
  std::unique_ptr<RankerTrainer> ranker;  // null until the first ranking list
  // The ranker of the snapshot resumed from (null: none), continued by the first list.
  std::shared_ptr<const RankerModel> resumed_ranker;

  Status TrainBatch(const std::vector<TrainingExample>& batch, bool replayed = false);
  // One step on a fresh batch, then options.replay_steps steps on batches from the ring.
  Status TrainFresh(std::vector<TrainingExample> batch);
  Status Resume(const std::string& dir);
  // The parameters and id tables of the snapshot in `dir` (checked: model shape,
  // checksums); `what` prefixes errors.
  Status LoadModel(const std::string& dir, const std::string& what, SnapshotManifest* manifest);
  Status WriteFiles(const std::string& dir, int64_t version, int64_t now_ms,
                    SnapshotManifest* manifest);
  void ForgetItem(uint64_t key) {
    item_names.erase(key);
  }
  // The user tower's history inputs of example `e` as the training step assembles them:
  // rows from the item id table (0: unknown), timestamps (the example's time when it has
  // none) and the time reference (the example's time). Trainer::UserVector uses it too.
  void HistoryInputs(const TrainingExample& e, std::vector<int64_t>* rows,
                     std::vector<int64_t>* ts, int64_t* now) const {
    rows->clear();
    rows->reserve(e.history_keys.size());
    for (uint64_t k : e.history_keys) rows->push_back(items.Find(k));
    *ts = e.history_ts_ms.empty() ? std::vector<int64_t>(rows->size(), e.ts_ms)
                                  : e.history_ts_ms;
    *now = e.ts_ms;
  }
  // Rows (re)assigned to new ids start with fresh optimizer state in sparse mode.
  void ResetTableRows(int table, const std::vector<int64_t>& rows) {
    if (table_optimizer && table >= 0) table_optimizer->ResetRows(static_cast<size_t>(table), rows);
  }
};

Trainer::Trainer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Trainer::~Trainer() = default;

Result<std::unique_ptr<Trainer>> Trainer::Create(const TrainerOptions& options) {
  const auto& mo = options.model;
  if (options.batch_size < 2) return Status::InvalidArgument("batch_size must be >= 2");
  if (mo.embedding_dim <= 0 || mo.output_dim <= 0 || mo.hidden_dim < 0 ||
      mo.user_capacity <= 0 || mo.item_capacity <= 0 || mo.category_capacity < 0 ||
      mo.brand_capacity < 0 || !(mo.temperature > 0) || !(options.learning_rate > 0)) {
    return Status::InvalidArgument("invalid trainer options");
  }
  if (options.replay_steps < 0 ||
      (options.replay_steps > 0 && options.replay_capacity < options.batch_size)) {
    return Status::InvalidArgument("replay_steps must be >= 0 and replay_capacity >= batch_size");
  }
  if (options.optimizer != "adam" && options.optimizer != "adagrad") {
    return Status::InvalidArgument("optimizer must be adam or adagrad, not " + options.optimizer);
  }
  if (options.embedding_updates != "auto" && options.embedding_updates != "dense" &&
      options.embedding_updates != "sparse") {
    return Status::InvalidArgument("embedding_updates must be auto, dense or sparse, not " +
                                   options.embedding_updates);
  }
  try {
    auto rep = std::make_unique<Rep>();
    rep->options = options;
    if (options.device == "cuda" || (options.device == "auto" && torch::cuda::is_available())) {
      if (!torch::cuda::is_available()) return Status::Unavailable("CUDA is not available");
      rep->device = torch::Device(torch::kCUDA);
    } else if (options.device != "cpu" && options.device != "auto") {
      return Status::InvalidArgument("device must be auto, cpu or cuda");
    }
    torch::manual_seed(options.seed);
    rep->replay_rng.seed(options.seed);
    rep->model = TwoTowerModel(mo);
    rep->model->to(rep->device);
    rep->users = IdTable(mo.user_capacity);
    rep->items = IdTable(mo.item_capacity);
    std::vector<torch::Tensor> dense = rep->model->parameters();
    const bool sparse = options.embedding_updates == "sparse" ||
                        (options.embedding_updates == "auto" && !rep->device.is_cuda());
    if (sparse) {
      rep->model->SetSparseGradients(true);
      dense = rep->model->DenseParameters();
      SparseRowOptimizerOptions so;
      so.kind = options.optimizer;
      so.learning_rate = options.learning_rate;
      so.weight_decay = options.weight_decay;
      rep->table_optimizer =
          std::make_unique<SparseRowOptimizer>(rep->model->EmbeddingWeights(), so);
      if (mo.use_user_id) rep->user_table = 1;
    }
    if (options.optimizer == "adam") {
      rep->optimizer = std::make_unique<torch::optim::Adam>(
          dense,
          torch::optim::AdamOptions(options.learning_rate).weight_decay(options.weight_decay));
    } else {
      rep->optimizer = std::make_unique<torch::optim::Adagrad>(
          dense,
          torch::optim::AdagradOptions(options.learning_rate).weight_decay(options.weight_decay));
    }
    if (options.resume && !options.model_dir.empty()) {
      auto latest = LatestSnapshotDir(options.model_dir);
      if (latest.ok()) STREAMREC_RETURN_IF_ERROR(rep->Resume(*latest));
    }
    rep->last_snapshot_ms = WallMs();
    Metrics().version->Set(static_cast<double>(rep->version));
    return std::unique_ptr<Trainer>(new Trainer(std::move(rep)));
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("trainer: libtorch: ") + e.what_without_backtrace());
  }
}

Status Trainer::Rep::LoadModel(const std::string& dir, const std::string& what, SnapshotManifest* out) {
  auto text = sf::ReadFile(fs::JoinPath(dir, sf::kManifestFile));
  if (!text.ok()) return text.status();
  auto manifest = SnapshotManifest::FromJson(*text);
  if (!manifest.ok()) return manifest.status().WithContext(what + " " + dir);
  const auto& a = manifest->model;
  const auto& b = options.model;
  // A snapshot without side tables (written before them, or with them off) resumes into
  // a model with them: its parameters load, the side tables keep their fresh values.
  const bool adds_side = a.category_capacity == 0 && a.brand_capacity == 0 &&
                         (b.category_capacity > 0 || b.brand_capacity > 0);
  if (a.embedding_dim != b.embedding_dim || a.hidden_dim != b.hidden_dim ||
      a.output_dim != b.output_dim || a.user_capacity != b.user_capacity ||
      a.item_capacity != b.item_capacity ||
      (!adds_side && (a.category_capacity != b.category_capacity ||
                      a.brand_capacity != b.brand_capacity)) ||
      a.use_user_id != b.use_user_id) {
    return Status::FailedPrecondition(what + " " + dir +
                                      ": snapshot model shape differs from the options");
  }
  if (a.history_encoder != b.history_encoder) {
    // The default moved from mean to wrnn: say how to resume an older model.
    return Status::FailedPrecondition(
        what + " " + dir + ": the snapshot's user tower is trainer.history_encoder=" +
        HistoryEncoderName(a.history_encoder) + ", the options' " +
        HistoryEncoderName(b.history_encoder) + " (set trainer.history_encoder=" +
        HistoryEncoderName(a.history_encoder) + " to resume it)");
  }
  auto params = sf::ReadFile(fs::JoinPath(dir, sf::kParamsFile));
  auto ids = sf::ReadFile(fs::JoinPath(dir, sf::kIdsFile));
  if (!params.ok()) return params.status();
  if (!ids.ok()) return ids.status();
  if (sf::Checksum(*params) != manifest->params_checksum ||
      sf::Checksum(*ids) != manifest->ids_checksum) {
    return Status::Corruption(what + " " + dir + ": checksum mismatch");
  }
  auto maps = sf::DecodeIds(*ids);
  if (!maps.ok()) return maps.status();
  // Copies onto the device.
  STREAMREC_RETURN_IF_ERROR(sf::DecodeParamsInto(*params, model, adds_side));
  if (!users.Restore(maps->users) || !items.Restore(maps->items)) {
    return Status::Corruption(what + " " + dir + ": bad id tables");
  }
  for (auto& [k, name] : maps->item_names) item_names[k] = name;
  if (options.model.category_capacity > 0 || options.model.brand_capacity > 0) {
    for (auto& [k, c] : maps->item_categories) item_side[k].category = c;
    for (auto& [k, b] : maps->item_brands) item_side[k].brand = b;
    for (auto& [k, side] : item_side) {
      auto name = item_names.find(k);
      if (name != item_names.end() && side.name.empty()) side.name = name->second;
    }
  }
  *out = std::move(manifest).value();
  return Status::Ok();
}

Status Trainer::Rep::Resume(const std::string& dir) {
  SnapshotManifest loaded;
  STREAMREC_RETURN_IF_ERROR(LoadModel(dir, "resume", &loaded));
  const SnapshotManifest* manifest = &loaded;
  const std::string opt_path = fs::JoinPath(dir, sf::kOptimizerFile);
  const auto& saved_model = manifest->model;
  if (saved_model.category_capacity != options.model.category_capacity ||
      saved_model.brand_capacity != options.model.brand_capacity) {
    // The model gained side tables: the parameter groups differ, so the optimizer's
    // moments start afresh (as after a change of embedding_updates).
    spdlog::warn("[trainer] resume {}: the snapshot has no item side tables, the model does: "
                 "starting with fresh optimizer state", dir);
  } else if (fs::Exists(opt_path)) {
    torch::serialize::InputArchive archive;
    archive.load_from(opt_path, device);
    torch::Tensor mode;
    const bool saved_sparse =
        archive.try_read(kSparseModeKey, mode) && mode.numel() == 1 && mode.item<int64_t>() != 0;
    if (saved_sparse != (table_optimizer != nullptr)) {
      // The parameter groups differ between the modes: the parameters resume, the
      // optimizer's moments start afresh.
      spdlog::warn("[trainer] resume {}: optimizer state was written with {} embedding updates, "
                   "now {}: starting with fresh optimizer state",
                   dir, saved_sparse ? "sparse" : "dense", table_optimizer ? "sparse" : "dense");
    } else {
      optimizer->load(archive);
      if (table_optimizer && !table_optimizer->Load(archive, kTableOptimizerKey)) {
        spdlog::warn("[trainer] resume {}: no usable embedding-table optimizer state; "
                     "starting it afresh", dir);
      }
    }
  }
  const std::string stream_path = fs::JoinPath(dir, kStreamStateFile);
  if (fs::Exists(stream_path)) {
    auto bytes = sf::ReadFile(stream_path);
    if (!bytes.ok()) return bytes.status();
    stream_state = std::move(bytes).value();
  }
  if (!manifest->ranker_checksum.empty()) {
    auto ranker_model = RankerModel::Load(dir, manifest->ranker_checksum);
    if (ranker_model.ok()) {
      resumed_ranker = std::move(ranker_model).value();
    } else {
      spdlog::warn("[trainer] resume {}: ranker not restored, it starts afresh: {}", dir,
                   ranker_model.status().ToString());
    }
  }
  step = manifest->step;
  examples = manifest->examples;
  version = manifest->version;
  watermark_ms = manifest->watermark_ms;
  last_loss = manifest->last_loss;
  last_snapshot_step = step;
  return Status::Ok();
}

Status Trainer::WarmStartFrom(const std::string& dir) {
  try {
    SnapshotManifest manifest;
    STREAMREC_RETURN_IF_ERROR(rep_->LoadModel(dir, "warm start from", &manifest));
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("trainer: warm start: libtorch: ") + e.what_without_backtrace());
  }
}

Status Trainer::AddExample(const TrainingExample& example) {
  if (example.history_ts_ms.size() != example.history_keys.size() &&
      !example.history_ts_ms.empty()) {
    return Status::InvalidArgument("history keys and timestamps differ in length");
  }
  rep_->pending.push_back(example);
  if (static_cast<int64_t>(rep_->pending.size()) >= rep_->options.batch_size) {
    std::vector<TrainingExample> batch;
    batch.swap(rep_->pending);
    return rep_->TrainFresh(std::move(batch));
  }
  return Status::Ok();
}

Status Trainer::AddRankingList(const RankingList& list, int64_t num_features) {
  auto& r = *rep_;
  if (r.ranker == nullptr) {
    auto ranker = RankerTrainer::Create(r.options.ranker, num_features);
    if (!ranker.ok()) return ranker.status();
    if (r.resumed_ranker != nullptr) {
      // Continues the resumed snapshot's ranker when it has this shape.
      Status loaded = (*ranker)->LoadFrom(*r.resumed_ranker);
      if (!loaded.ok()) spdlog::warn("[trainer] the resumed ranker is not continued: {}", loaded.ToString());
      r.resumed_ranker.reset();
    }
    r.ranker = std::move(ranker).value();
  } else if (r.ranker->num_features() != num_features) {
    return Status::InvalidArgument("ranking list with " + std::to_string(num_features) +
                                   " features; the ranker has " +
                                   std::to_string(r.ranker->num_features()));
  }
  return r.ranker->Add(list);
}

const RankerTrainer* Trainer::ranker() const { return rep_->ranker.get(); }

Status Trainer::Flush() {
  if (rep_->pending.size() < 2) return Status::Ok();
  std::vector<TrainingExample> batch;
  batch.swap(rep_->pending);
  return rep_->TrainFresh(std::move(batch));
}

Status Trainer::Rep::TrainFresh(std::vector<TrainingExample> batch) {
  STREAMREC_RETURN_IF_ERROR(TrainBatch(batch));
  if (options.replay_steps <= 0) return Status::Ok();
  const size_t capacity = static_cast<size_t>(options.replay_capacity);
  for (auto& e : batch) {
    if (replay.size() < capacity) {
      replay.push_back(std::move(e));
    } else {
      replay[replay_next] = std::move(e);
      replay_next = (replay_next + 1) % capacity;
    }
  }
  const size_t b = static_cast<size_t>(options.batch_size);
  // Replay starts once the ring holds two batches, so that a replayed batch is not just
  // the fresh one again.
  if (replay.size() < 2 * b) return Status::Ok();
  std::vector<size_t> order(replay.size());
  std::vector<TrainingExample> drawn;
  for (int64_t r = 0; r < options.replay_steps; ++r) {
    std::iota(order.begin(), order.end(), size_t{0});
    drawn.clear();
    for (size_t i = 0; i < b; ++i) {  // partial Fisher-Yates: b distinct examples
      std::uniform_int_distribution<size_t> pick(i, order.size() - 1);
      std::swap(order[i], order[pick(replay_rng)]);
      drawn.push_back(replay[order[i]]);
    }
    STREAMREC_RETURN_IF_ERROR(TrainBatch(drawn, /*replayed=*/true));
  }
  return Status::Ok();
}

void Trainer::UpdateItemStats(const ItemStats& stats) {
  if (stats.sampling_prob > 0) rep_->sampling_prob[stats.item_key] = stats.sampling_prob;
  if (!stats.item_id.empty() && rep_->items.Find(stats.item_key) != 0) {
    rep_->item_names[stats.item_key] = stats.item_id;
  }
}

std::optional<double> Trainer::sampling_prob(uint64_t item_key) const {
  auto it = rep_->sampling_prob.find(item_key);
  if (it == rep_->sampling_prob.end()) return std::nullopt;
  return it->second;
}

int64_t Trainer::logq_fallbacks() const { return rep_->logq_fallbacks; }

const TrainerPhaseSeconds& Trainer::phase_seconds() const { return rep_->phases; }

bool Trainer::sparse_embeddings() const { return rep_->table_optimizer != nullptr; }

void Trainer::SetStreamState(std::string bytes) { rep_->stream_state = std::move(bytes); }

const std::string& Trainer::stream_state() const { return rep_->stream_state; }

void Trainer::SetItemCatalog(uint64_t item_key, std::string_view item_id, uint64_t category_key,
                             uint64_t brand_key) {
  const auto& mo = rep_->options.model;
  if (mo.category_capacity <= 0 && mo.brand_capacity <= 0) return;
  if (mo.category_capacity <= 0) category_key = 0;
  if (mo.brand_capacity <= 0) brand_key = 0;
  if (category_key == 0 && brand_key == 0) {
    rep_->item_side.erase(item_key);
    return;
  }
  auto& side = rep_->item_side[item_key];
  side.category = category_key;
  side.brand = brand_key;
  if (!item_id.empty()) side.name = std::string(item_id);
}

void Trainer::SetItemCategory(uint64_t item_key, uint64_t category_key) {
  auto it = rep_->item_side.find(item_key);
  const uint64_t brand = it == rep_->item_side.end() ? 0 : it->second.brand;
  SetItemCatalog(item_key, {}, category_key, brand);
}

int64_t Trainer::catalog_items() const { return static_cast<int64_t>(rep_->item_side.size()); }

Status Trainer::Rep::TrainBatch(const std::vector<TrainingExample>& batch, bool replayed) {
  const size_t b = batch.size();
  std::vector<int64_t> user_rows(b), item_rows(b), category_rows(b, 0), brand_rows(b, 0), now(b);
  // Without any catalogue data the side tables are left out of the step altogether, so a
  // model with side tables trains exactly as one without.
  const bool side = !item_side.empty();
  std::vector<int64_t> keys(b);
  std::vector<float> probs(b), weights(b);
  std::vector<std::vector<int64_t>> hist_rows(b), hist_ts(b);
  std::vector<int64_t> fresh_users, fresh_items;  // rows newly assigned in this batch
  const double fallback =
      sampling_prob.empty() ? options.default_sampling_prob : 1.0 / sampling_prob.size();
  int64_t fallbacks = 0;
  // Phase timing (options.profile_phases): the device is synchronised at each boundary so
  // that a phase's queued kernels are charged to it, which slows a CUDA step a little.
  const bool profile = options.profile_phases;
  auto mark = std::chrono::steady_clock::now();
  auto phase = [&](double* slot) {
    if (!profile) return;
    if (device.is_cuda()) torch::cuda::synchronize();
    const auto now = std::chrono::steady_clock::now();
    *slot += std::chrono::duration<double>(now - mark).count();
    mark = now;
  };
  try {
    // Assign rows first (positives may appear in later rows' histories).
    for (size_t i = 0; i < b; ++i) {
      const auto& e = batch[i];
      auto u = users.LookupOrInsert(e.user_key);
      if (u.fresh) fresh_users.push_back(u.row);
      auto it = items.LookupOrInsert(e.item_key);
      if (it.fresh) fresh_items.push_back(it.row);
      if (it.evicted) ForgetItem(it.evicted_key);
      if (u.evicted || it.evicted) Metrics().evictions->Increment((u.evicted ? 1 : 0) + (it.evicted ? 1 : 0));
      if (!e.item_id.empty()) item_names[e.item_key] = e.item_id;
      user_rows[i] = u.row;
      item_rows[i] = it.row;
      keys[i] = static_cast<int64_t>(e.item_key);
    }
    model->ResetUserRows(fresh_users);
    model->ResetItemRows(fresh_items);
    ResetTableRows(user_table, fresh_users);
    ResetTableRows(0, fresh_items);
    phase(&phases.lookup);
    for (size_t i = 0; i < b; ++i) {
      const auto& e = batch[i];
      if (side) {
        auto s = item_side.find(e.item_key);
        if (s != item_side.end()) {
          category_rows[i] = SideRow(s->second.category, options.model.category_capacity);
          brand_rows[i] = SideRow(s->second.brand, options.model.brand_capacity);
        }
      }
      HistoryInputs(e, &hist_rows[i], &hist_ts[i], &now[i]);
      auto p = sampling_prob.find(e.item_key);
      if (p == sampling_prob.end()) ++fallbacks;
      probs[i] = static_cast<float>(p == sampling_prob.end() ? fallback : p->second);
      weights[i] = std::max(e.weight, 0.0f);
      watermark_ms = std::max(watermark_ms, e.ts_ms);
    }
    UserFeatures f = BuildUserFeatures(user_rows, hist_rows, hist_ts, now, options.model);
    phase(&phases.assemble);
    f.user_rows = f.user_rows.to(device);
    f.history_rows = f.history_rows.to(device);
    f.history_len = f.history_len.to(device);
    if (f.history_time.defined()) f.history_time = f.history_time.to(device);
    torch::Tensor items_t = torch::tensor(item_rows, torch::kInt64).to(device);
    torch::Tensor cats_t, brands_t;
    if (side) {
      cats_t = torch::tensor(category_rows, torch::kInt64).to(device);
      brands_t = torch::tensor(brand_rows, torch::kInt64).to(device);
    }
    torch::Tensor keys_t = torch::tensor(keys, torch::kInt64).to(device);
    torch::Tensor probs_t = torch::tensor(probs, torch::kFloat32).to(device);
    torch::Tensor weights_t = torch::tensor(weights, torch::kFloat32).to(device);
    phase(&phases.transfer);

    model->train();
    optimizer->zero_grad();
    if (table_optimizer) table_optimizer->ZeroGrad();
    torch::Tensor u = model->UserTower(f);
    torch::Tensor v = model->ItemTower(items_t, cats_t, brands_t);
    torch::Tensor loss = InBatchSoftmaxLoss(u, v, keys_t, probs_t, weights_t,
                                            options.model.temperature, options.loss);
    phase(&phases.forward);
    loss.backward();
    phase(&phases.backward);
    optimizer->step();
    if (table_optimizer) table_optimizer->Step();
    phase(&phases.optimizer);
    // last_loss is the fresh batches' loss: a replayed batch was seen before, its loss says
    // less about how the model does on new events.
    if (!replayed) last_loss = loss.item<double>();
    phase(&phases.loss_read);
    if (profile) ++phases.steps;
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("training step: libtorch: ") +
                            e.what_without_backtrace());
  }
  ++step;
  auto& m = Metrics();
  m.steps->Increment();
  if (replayed) return Status::Ok();  // examples and fallbacks count each example once
  m.loss->Set(last_loss);
  examples += static_cast<int64_t>(b);
  m.examples->Increment(static_cast<double>(b));
  logq_fallbacks += fallbacks;
  if (fallbacks > 0) m.logq_fallbacks->Increment(static_cast<double>(fallbacks));
  return Status::Ok();
}

Status Trainer::Rep::WriteFiles(const std::string& dir, int64_t new_version, int64_t now_ms,
                                SnapshotManifest* manifest) {
  try {
    STREAMREC_RETURN_IF_ERROR(fs::CreateDirectories(dir));
    // Item embeddings of every known item, in the id table's order, then (side features)
    // the catalogue's items the id table lacks, by key: their vectors are the item tower's
    // output for their category and brand with a zero id embedding, so a cold item is
    // served near the items of its category. Serving reads these vectors as they are.
    sf::ItemMatrix matrix;
    matrix.dim = options.model.output_dim;
    auto entries = items.Entries();
    std::vector<int64_t> rows, cat_rows, brand_rows;
    const bool side = !item_side.empty();
    std::vector<std::pair<uint64_t, std::string>> cold_names;
    auto add = [&](uint64_t key, int64_t row, const std::string& name) {
      matrix.keys.push_back(key);
      matrix.ids.push_back(name);
      rows.push_back(row);
      int64_t cat = 0, brand = 0;
      if (side) {
        auto s = item_side.find(key);
        if (s != item_side.end()) {
          cat = SideRow(s->second.category, options.model.category_capacity);
          brand = SideRow(s->second.brand, options.model.brand_capacity);
        }
      }
      cat_rows.push_back(cat);
      brand_rows.push_back(brand);
    };
    for (const auto& [key, row] : entries) {
      auto name = item_names.find(key);
      if (name != item_names.end()) {
        add(key, row, name->second);
        continue;
      }
      auto s = item_side.find(key);
      add(key, row,
          s != item_side.end() && !s->second.name.empty() ? s->second.name : std::to_string(key));
    }
    if (side) {
      std::vector<uint64_t> cold;
      // Only those whose id string is known (serving answers with it).
      for (const auto& [key, s] : item_side) {
        if (!s.name.empty() && items.Find(key) == 0) cold.push_back(key);
      }
      std::sort(cold.begin(), cold.end());
      for (uint64_t key : cold) {
        const std::string& name = item_side.at(key).name;
        add(key, 0, name);
        cold_names.emplace_back(key, name);
      }
    }
    matrix.embeddings.reserve(rows.size() * static_cast<size_t>(matrix.dim));
    {
      torch::NoGradGuard no_grad;
      model->eval();
      constexpr size_t kChunk = 8192;
      for (size_t start = 0; start < rows.size(); start += kChunk) {
        const size_t end = std::min(rows.size(), start + kChunk);
        std::vector<int64_t> r(rows.begin() + start, rows.begin() + end);
        torch::Tensor cats_t, brands_t;
        if (side) {
          std::vector<int64_t> c(cat_rows.begin() + start, cat_rows.begin() + end);
          std::vector<int64_t> br(brand_rows.begin() + start, brand_rows.begin() + end);
          cats_t = torch::tensor(c, torch::kInt64).to(device);
          brands_t = torch::tensor(br, torch::kInt64).to(device);
        }
        torch::Tensor v = model->ItemTower(torch::tensor(r, torch::kInt64).to(device), cats_t, brands_t)
                              .to(torch::kCPU)
                              .contiguous();
        const float* p = v.data_ptr<float>();
        matrix.embeddings.insert(matrix.embeddings.end(), p, p + v.numel());
      }
      model->train();
    }
    sf::IdMaps maps;
    maps.users = users.Entries();
    maps.items = entries;
    maps.item_names.assign(item_names.begin(), item_names.end());
    maps.item_names.insert(maps.item_names.end(), cold_names.begin(), cold_names.end());
    for (const auto& [key, s] : item_side) {
      if (s.category != 0) maps.item_categories.emplace_back(key, s.category);
      if (s.brand != 0) maps.item_brands.emplace_back(key, s.brand);
    }

    const std::string params = sf::EncodeParams(model);
    const std::string items_bytes = sf::EncodeItems(matrix);
    const std::string ids = sf::EncodeIds(maps);
    STREAMREC_RETURN_IF_ERROR(sf::WriteFile(fs::JoinPath(dir, sf::kParamsFile), params));
    STREAMREC_RETURN_IF_ERROR(
        sf::WriteFile(fs::JoinPath(dir, sf::kItemsFile), items_bytes));
    STREAMREC_RETURN_IF_ERROR(sf::WriteFile(fs::JoinPath(dir, sf::kIdsFile), ids));
    {
      torch::serialize::OutputArchive archive;
      optimizer->save(archive);
      archive.write(kSparseModeKey, torch::tensor({table_optimizer ? int64_t{1} : int64_t{0}}));
      if (table_optimizer) table_optimizer->Save(archive, kTableOptimizerKey);
      archive.save_to(fs::JoinPath(dir, sf::kOptimizerFile));
    }
    SnapshotManifest& m = *manifest;
    m.version = new_version;
    m.step = step;
    m.examples = examples;
    m.watermark_ms = watermark_ms;
    m.created_ms = now_ms;
    m.num_items = static_cast<int64_t>(matrix.keys.size());
    m.num_users = users.size();
    m.last_loss = last_loss;
    m.model = options.model;
    m.params_checksum = sf::Checksum(params);
    m.items_checksum = sf::Checksum(items_bytes);
    m.ids_checksum = sf::Checksum(ids);
    m.checksum = sf::CombinedChecksum(m.params_checksum, m.items_checksum, m.ids_checksum);
    if (!stream_state.empty()) {
      STREAMREC_RETURN_IF_ERROR(
          sf::WriteFile(fs::JoinPath(dir, kStreamStateFile), stream_state));
    }
    if (ranker != nullptr) {
      STREAMREC_RETURN_IF_ERROR(ranker->Flush());
      if (ranker->steps() > 0) {
        auto trained = ranker->Model();
        if (!trained.ok()) return trained.status().WithContext("ranker");
        const std::string bytes = (*trained)->Encode();
        STREAMREC_RETURN_IF_ERROR(sf::WriteFile(fs::JoinPath(dir, kRankerFile), bytes));
        m.ranker_checksum = sf::Checksum(bytes);
      }
    }
    // The manifest goes last: its presence marks a complete snapshot.
    STREAMREC_RETURN_IF_ERROR(
        sf::WriteFile(fs::JoinPath(dir, sf::kManifestFile), m.ToJson()));
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("snapshot: libtorch: ") + e.what_without_backtrace());
  }
}

Result<SnapshotManifest> Trainer::WriteSnapshotTo(const std::string& dir, int64_t now_ms) {
  SnapshotManifest m;
  STREAMREC_RETURN_IF_ERROR(rep_->WriteFiles(dir, rep_->version, now_ms, &m));
  m.dir = dir;
  return m;
}

Result<SnapshotManifest> Trainer::WriteSnapshot(int64_t now_ms) {
  auto& r = *rep_;
  if (r.options.model_dir.empty()) {
    return Status::FailedPrecondition("no model_dir configured for snapshots");
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t new_version = std::max(r.version, ListSnapshotVersions(r.options.model_dir).empty()
                                                      ? int64_t{0}
                                                      : ListSnapshotVersions(r.options.model_dir)
                                                            .back()) +
                              1;
  const std::string final_dir = SnapshotDirName(r.options.model_dir, new_version);
  const std::string tmp_dir =
      fs::JoinPath(r.options.model_dir, ".tmp-" + fs::BaseName(final_dir));
  // A crashed earlier attempt may have left the same temporary directory behind.
  STREAMREC_RETURN_IF_ERROR(fs::RemoveAll(tmp_dir));
  SnapshotManifest m;
  Status st = r.WriteFiles(tmp_dir, new_version, now_ms, &m);
  if (!st.ok()) {
    (void)fs::RemoveAll(tmp_dir);
    return st;
  }
  st = fs::Rename(tmp_dir, final_dir);
  if (!st.ok()) {
    (void)fs::RemoveAll(tmp_dir);
    return st.WithContext("snapshot");
  }
  m.dir = final_dir;
  r.version = new_version;
  r.last_snapshot_step = r.step;
  r.last_snapshot_ms = now_ms;
  if (r.options.keep_snapshots > 0) {
    auto versions = ListSnapshotVersions(r.options.model_dir);
    for (size_t i = 0; i + static_cast<size_t>(r.options.keep_snapshots) < versions.size(); ++i) {
      // Retention is best effort: the new snapshot is complete either way, and the next
      // snapshot retries whatever could not be removed now.
      Status removed = fs::RemoveAll(SnapshotDirName(r.options.model_dir, versions[i]));
      if (!removed.ok()) spdlog::warn("[trainer] snapshot retention: {}", removed.ToString());
    }
  }
  auto& metrics = Metrics();
  metrics.version->Set(static_cast<double>(new_version));
  metrics.snapshot_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return m;
}

Result<std::optional<SnapshotManifest>> Trainer::MaybeSnapshot(int64_t now_ms) {
  auto& r = *rep_;
  if (r.options.model_dir.empty() || r.step == r.last_snapshot_step) {
    return std::optional<SnapshotManifest>();
  }
  const bool by_steps = r.options.snapshot_every_steps > 0 &&
                        r.step - r.last_snapshot_step >= r.options.snapshot_every_steps;
  const bool by_time = r.options.snapshot_every_seconds > 0 &&
                       now_ms - r.last_snapshot_ms >= r.options.snapshot_every_seconds * 1000;
  if (!by_steps && !by_time) return std::optional<SnapshotManifest>();
  auto m = WriteSnapshot(now_ms);
  if (!m.ok()) return m.status();
  return std::optional<SnapshotManifest>(std::move(m).value());
}

int64_t Trainer::step() const { return rep_->step; }
int64_t Trainer::examples() const { return rep_->examples; }
int64_t Trainer::version() const { return rep_->version; }
double Trainer::last_loss() const { return rep_->last_loss; }
int64_t Trainer::watermark_ms() const { return rep_->watermark_ms; }
bool Trainer::on_cuda() const { return rep_->device.is_cuda(); }
int64_t Trainer::known_items() const { return rep_->items.size(); }
int64_t Trainer::known_users() const { return rep_->users.size(); }

Result<std::vector<float>> Trainer::UserVector(const TrainingExample& example) const {
  if (example.history_ts_ms.size() != example.history_keys.size() &&
      !example.history_ts_ms.empty()) {
    return Status::InvalidArgument("history keys and timestamps differ in length");
  }
  try {
    const Rep& r = *rep_;
    std::vector<int64_t> rows, ts;
    int64_t now = 0;
    r.HistoryInputs(example, &rows, &ts, &now);
    const int64_t user_row = r.users.Find(example.user_key);
    UserFeatures f = BuildUserFeatures({std::max<int64_t>(user_row, 0)}, {rows}, {ts}, {now},
                                       r.options.model);
    f.user_rows = f.user_rows.to(r.device);
    f.history_rows = f.history_rows.to(r.device);
    f.history_len = f.history_len.to(r.device);
    if (f.history_time.defined()) f.history_time = f.history_time.to(r.device);
    torch::NoGradGuard no_grad;
    torch::Tensor u = r.model.ptr()->UserTower(f).to(torch::kCPU).contiguous();
    const float* p = u.data_ptr<float>();
    return std::vector<float>(p, p + u.numel());
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("trainer: user vector: libtorch: ") +
                            e.what_without_backtrace());
  }
}

}  // namespace streamrec::training
