#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "training/model_options.h"

namespace streamrec::training {

// A versioned model snapshot in a model store directory (no torch in this header, so
// serving/ and apps/ can include it cheaply):
//
//   <store>/v0000000007/manifest.json   SnapshotManifest (flat JSON)
//                       params.bin      every model tensor by name (user tower included)
//                       items.bin       item keys, item ids and item-tower embeddings of
//                                       every known item, row-major float32 [n, dim]
//                       ids.bin         user / item / category id tables (training/id_table.h)
//                       optimizer.pt    optimizer state (torch::save), for resuming only
//                       ranker.bin      optional: the ranking stage's MLP (training/ranker.h)
//
// A snapshot is written to a temporary directory and renamed into place, so a
// directory named v<version> is always complete. Checksums are XXH3-64 (core HashId)
// of each file's bytes; `checksum` combines the three model files.
struct SnapshotManifest {
  int64_t format = 1;
  int64_t version = 0;        // 1, 2, 3, ... per store
  int64_t step = 0;           // optimizer steps taken
  int64_t examples = 0;       // training examples consumed
  int64_t watermark_ms = 0;   // largest event time trained on
  int64_t created_ms = 0;     // wall clock when written
  int64_t num_items = 0;
  int64_t num_users = 0;
  double last_loss = 0;
  TwoTowerOptions model;
  std::string params_checksum;  // 16 hex digits each
  std::string items_checksum;
  std::string ids_checksum;
  std::string checksum;
  // XXH3 of ranker.bin (training/ranker.h) when the snapshot carries the ranking stage's
  // model, else empty (the key is absent: older snapshots and a trainer given no ranking
  // lists). Not part of `checksum`: the ranker is optional and loaded on its own.
  std::string ranker_checksum;
  std::string dir;  // where it lies (not stored in the file; filled by writer and reader)

  std::string ToJson() const;
  static Result<SnapshotManifest> FromJson(std::string_view json);
};

// The message announcing a snapshot on `streamrec.models` (key: the component name):
// {"component":"two_tower","version":7,"path":"/models/v0000000007","step":..,
//  "watermark_ms":..,"created_ms":..,"num_items":..,"dim":..,"checksum":".."}
struct ModelAnnouncement {
  std::string component = "two_tower";
  int64_t version = 0;
  std::string path;
  int64_t step = 0;
  int64_t watermark_ms = 0;
  int64_t created_ms = 0;
  int64_t num_items = 0;
  int64_t dim = 0;
  std::string checksum;

  static ModelAnnouncement FromManifest(const SnapshotManifest& m);
  std::string ToJson() const;
  static Result<ModelAnnouncement> FromJson(std::string_view json);
};

// "<store>/v0000000007".
std::string SnapshotDirName(const std::string& store, int64_t version);
// The directory of the highest complete version in `store`; NotFound when none.
Result<std::string> LatestSnapshotDir(const std::string& store);
// The manifest of the snapshot directory `dir` (its `dir` field set); checks nothing else.
Result<SnapshotManifest> ReadSnapshotManifest(const std::string& dir);
// Every complete version in `store`, ascending.
std::vector<int64_t> ListSnapshotVersions(const std::string& store);

// A loaded, validated snapshot: item embeddings for every known item and the user tower.
// Load() checks the checksums, tensor names and shapes against the manifest and rejects
// NaN/Inf anywhere. Immutable after Load(); every method is thread-safe, so serving can
// share one through a shared_ptr<const ModelSnapshot> while a newer one loads.
class ModelSnapshot {
 public:
  static Result<std::shared_ptr<const ModelSnapshot>> Load(const std::string& dir);
  ~ModelSnapshot();
  ModelSnapshot(const ModelSnapshot&) = delete;
  ModelSnapshot& operator=(const ModelSnapshot&) = delete;

  const SnapshotManifest& manifest() const;
  int64_t version() const { return manifest().version; }
  int64_t dim() const { return manifest().model.output_dim; }
  int64_t num_items() const { return static_cast<int64_t>(item_keys().size()); }

  // Item i's key, external id and embedding (L2-normalised), i in [0, num_items).
  const std::vector<uint64_t>& item_keys() const;
  const std::vector<std::string>& item_ids() const;
  const std::vector<float>& item_embeddings() const;  // row-major [num_items, dim]
  // Index of `item_key` in the arrays above, or -1.
  int64_t ItemIndex(uint64_t item_key) const;

  // The L2-normalised user vector (length dim) for a user and their recent history
  // (oldest first; timestamps parallel, used with the time window relative to `now_ms`,
  // and by the W-RNN encoder's time-gap features, which use the timestamps alone).
  // An unknown user gets a zero id embedding: the history alone speaks.
  Result<std::vector<float>> UserEmbedding(uint64_t user_key,
                                           const std::vector<uint64_t>& history_keys,
                                           const std::vector<int64_t>& history_ts_ms,
                                           int64_t now_ms) const;

  // Scores <u, v> / τ of every item for a user vector (length num_items).
  std::vector<float> ScoreAllItems(const std::vector<float>& user_vec) const;

  struct Rep;

 private:
  explicit ModelSnapshot(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace streamrec::training
