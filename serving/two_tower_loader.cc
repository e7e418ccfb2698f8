#include "serving/two_tower_loader.h"

#include <filesystem>

#include <exception>

#include "core/id_hash.h"
#include "core/logging.h"
#include "serving/ranker_features.h"
#include "training/ranker.h"
#include "training/snapshot.h"

namespace streamrec::serving {
namespace {

// The snapshot's user tower as a UserEncoder. The snapshot is immutable and its methods
// are thread-safe (training/snapshot.h).
class SnapshotUserEncoder : public UserEncoder {
 public:
  explicit SnapshotUserEncoder(std::shared_ptr<const training::ModelSnapshot> snapshot)
      : snapshot_(std::move(snapshot)) {}

  Result<std::vector<float>> Encode(std::string_view user_id,
                                    const std::vector<HistoryEntry>& history) const override {
    std::vector<uint64_t> keys;
    std::vector<int64_t> ts;
    keys.reserve(history.size());
    ts.reserve(history.size());
    for (const HistoryEntry& h : history) {
      keys.push_back(h.item_key);
      ts.push_back(h.ts_ms);
    }
    // The window's time reference is its newest event (event time, not wall clock).
    const int64_t now_ms = history.empty() ? 0 : history.back().ts_ms;
    const uint64_t user_key = user_id.empty() ? 0 : HashId(user_id);
    try {
      return snapshot_->UserEmbedding(user_key, keys, ts, now_ms);
    } catch (const std::exception& e) {  // c10::Error derives from std::exception
      return Status::Internal(std::string("user tower: ") + e.what());
    }
  }

 private:
  std::shared_ptr<const training::ModelSnapshot> snapshot_;
};

}  // namespace

TwoTowerSnapshotLoader::TwoTowerSnapshotLoader(std::string dir, int64_t expected_version,
                                               std::string expected_checksum,
                                               TwoTowerLoaderOptions options,
                                               const UserHistoryStore* recent)
    : dir_(std::move(dir)),
      expected_version_(expected_version),
      expected_checksum_(std::move(expected_checksum)),
      options_(options),
      recent_(recent) {}

Result<std::shared_ptr<const TwoTowerModel>> TwoTowerSnapshotLoader::Load() {
  std::shared_ptr<const training::ModelSnapshot> snapshot;
  try {
    Result<std::shared_ptr<const training::ModelSnapshot>> loaded =
        training::ModelSnapshot::Load(dir_);
    if (!loaded.ok()) return loaded.status().WithContext("loading " + dir_);
    snapshot = std::move(loaded).value();
  } catch (const std::exception& e) {
    return Status::Corruption("loading " + dir_ + ": " + e.what());
  }
  const training::SnapshotManifest& m = snapshot->manifest();
  if (expected_version_ > 0 && m.version != expected_version_) {
    return Status::Corruption("announced version " + std::to_string(expected_version_) +
                              " but " + dir_ + " holds version " + std::to_string(m.version));
  }
  if (!expected_checksum_.empty() && m.checksum != expected_checksum_) {
    return Status::Corruption("announced checksum " + expected_checksum_ + " but " + dir_ +
                              " has " + m.checksum);
  }
  Result<std::shared_ptr<const ItemEmbeddings>> items = ItemEmbeddings::Create(
      snapshot->item_ids(), static_cast<int>(snapshot->dim()), snapshot->item_embeddings());
  if (!items.ok()) return items.status().WithContext("item embeddings of " + dir_);
  Result<std::unique_ptr<EmbeddingIndex>> index = NewEmbeddingIndex(*items, options_.index);
  if (!index.ok()) return index.status();
  // The ranking stage's model, when the snapshot carries one. A ranker that fails to load
  // does not refuse the version: it serves without one (the blend's order), said once here.
  std::shared_ptr<const training::RankerModel> ranker;
  if (!m.ranker_checksum.empty()) {
    auto loaded = training::RankerModel::Load(dir_, m.ranker_checksum);
    if (!loaded.ok()) {
      spdlog::warn("model version {}: ranker not loaded, serving the unranked order: {}",
                   m.version, loaded.status().ToString());
    } else if ((*loaded)->shape().num_features != kRankerFeatures) {
      spdlog::warn("model version {}: ranker has {} features, serving computes {}; serving the "
                   "unranked order", m.version, (*loaded)->shape().num_features, kRankerFeatures);
    } else {
      ranker = std::move(loaded).value();
    }
  }
  const double temperature = m.model.temperature;
  auto model = std::make_shared<const TwoTowerModel>(
      m.version, *items, std::move(index).value(),
      std::make_unique<SnapshotUserEncoder>(std::move(snapshot)), std::move(ranker), temperature);
  if (recent_ != nullptr) {
    Result<ServableHandle<TwoTowerModel>> serving =
        options_.serving != nullptr ? options_.serving->GetServableHandle()
                                    : Status::Unavailable("no comparison");
    Status sane = CheckModelSanity(*model, recent_->RecentEvents(options_.sanity.max_events),
                                   options_.sanity, nullptr, serving.ok() ? serving->get() : nullptr);
    if (!sane.ok()) return sane.WithContext("sanity check of " + dir_);
  }
  return std::shared_ptr<const TwoTowerModel>(std::move(model));
}

Result<AspiredVersion<TwoTowerModel>> AspiredVersionFromAnnouncement(
    std::string_view json, const std::string& component, const TwoTowerLoaderOptions& options,
    const UserHistoryStore* recent) {
  Result<training::ModelAnnouncement> a = training::ModelAnnouncement::FromJson(json);
  if (!a.ok()) return a.status().WithContext("model announcement");
  if (a->component != component) {
    return Status::NotFound("announcement for component '" + a->component + "'");
  }
  if (a->version <= 0) return Status::InvalidArgument("announcement without a version");
  if (!options.model_store.empty()) {
    std::error_code ec;
    const std::filesystem::path store = std::filesystem::weakly_canonical(options.model_store, ec);
    const std::filesystem::path path = ec ? std::filesystem::path() : std::filesystem::weakly_canonical(a->path, ec);
    const std::filesystem::path rel = ec ? std::filesystem::path() : path.lexically_relative(store);
    if (ec || rel.empty() || *rel.begin() == ".." || rel == ".") {
      return Status::InvalidArgument("announced model path '" + a->path + "' is outside the model store '" +
                                     options.model_store + "' (serving.model_store)");
    }
  }
  AspiredVersion<TwoTowerModel> v;
  v.version = a->version;
  v.created_ms = a->created_ms;
  v.loader = std::make_unique<TwoTowerSnapshotLoader>(a->path, a->version, a->checksum, options,
                                                      recent);
  return v;
}

std::vector<AspiredVersion<TwoTowerModel>> AspiredVersionsInStore(
    const std::string& store, const TwoTowerLoaderOptions& options, const UserHistoryStore* recent) {
  std::vector<AspiredVersion<TwoTowerModel>> out;
  for (int64_t version : training::ListSnapshotVersions(store)) {
    AspiredVersion<TwoTowerModel> v;
    v.version = version;
    v.loader = std::make_unique<TwoTowerSnapshotLoader>(training::SnapshotDirName(store, version),
                                                        version, "", options, recent);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace streamrec::serving
