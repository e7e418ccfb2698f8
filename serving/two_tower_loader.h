#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "serving/embedding_index.h"
#include "serving/model_registry.h"
#include "serving/two_tower_model.h"
#include "serving/user_history.h"

namespace streamrec::serving {

struct TwoTowerLoaderOptions {
  // Nearest-neighbour index built over the item embeddings at load time.
  EmbeddingIndexOptions index;
  // Sanity score on recent events (UserHistoryStore::RecentEvents).
  SanityCheckOptions sanity;
  // The manager whose served version a new one is compared with on the same events
  // (sanity.max_drop_vs_serving); not owned; null: no comparison, only the absolute bar.
  const AspiredVersionsManager<TwoTowerModel>* serving = nullptr;
  // serving.model_store: the directory the trainer writes snapshots to. A path announced
  // on streamrec.models must resolve (symlinks and "..") inside it, so a forged message
  // cannot make serving open an arbitrary file. Empty: no check (library callers that
  // build loaders themselves); `stage serving` and `run` always set it.
  std::string model_store;
};

// Loads one version of training/'s snapshot (training/snapshot.h: a directory
// v<version> with manifest, parameters, item embeddings and id tables), validates it —
// checksums, tensor names and shapes, no NaN/Inf (the snapshot reader), the version and
// checksum announced, then the sanity score on recent events — and builds the served
// TwoTowerModel: the item embeddings, their index, and the snapshot's user tower as the
// UserEncoder. LibTorch errors are caught here and become Status. Load() runs on the
// manager's loading thread (the models Source's).
class TwoTowerSnapshotLoader : public Loader<TwoTowerModel> {
 public:
  // `expected_version` and `expected_checksum` come from the announcement (0 / "": not
  // checked). `recent` (may be null) supplies the sanity-check events; not owned.
  TwoTowerSnapshotLoader(std::string dir, int64_t expected_version, std::string expected_checksum,
                         TwoTowerLoaderOptions options, const UserHistoryStore* recent);
  Result<std::shared_ptr<const TwoTowerModel>> Load() override;

 private:
  const std::string dir_;
  const int64_t expected_version_;
  const std::string expected_checksum_;
  const TwoTowerLoaderOptions options_;
  const UserHistoryStore* recent_;
};

// One `streamrec.models` message parsed into an aspired version for `component`
// (messages for other components: NotFound; a path outside options.model_store:
// InvalidArgument).
Result<AspiredVersion<TwoTowerModel>> AspiredVersionFromAnnouncement(
    std::string_view json, const std::string& component, const TwoTowerLoaderOptions& options,
    const UserHistoryStore* recent);

// Aspired versions of every complete snapshot in a model store directory (no Kafka:
// benchmarks, tools, tests).
std::vector<AspiredVersion<TwoTowerModel>> AspiredVersionsInStore(
    const std::string& store, const TwoTowerLoaderOptions& options, const UserHistoryStore* recent);

}  // namespace streamrec::serving
