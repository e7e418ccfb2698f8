#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch_input.h"
#include "core/status.h"

namespace streamrec::batch {

// A batch view directory (DESIGN §2, "Batch layer"):
//
//   <root>/batch-v000007/manifest.json   BatchManifest (JSON)
//                        view/           a RocksDB in the item stage's column
//                                        families and key layout
//                                        (operators/batch_view_store.h)
//                        model/          the two-tower snapshot, when trained
//                                        (training/snapshot.h layout)
//
// A version is built in <root>/.batch-tmp.<pid>.<n>/ and renamed into place once its
// manifest is written, so a directory named batch-v<N> is always complete; an
// interrupted run leaves only a temporary directory, which the next run removes when its
// process is gone.

// One file of a version, with its size and XXH3-64 (seed 0, 16 hex digits).
struct ManifestFile {
  std::string path;  // relative to the version directory
  uint64_t bytes = 0;
  std::string xxh3;
};

// The batch model of a version (its snapshot in <version>/model/, training/snapshot.h).
struct BatchModelSummary {
  std::string dir = "model";  // relative to the version directory
  int64_t epochs = 0;
  int64_t examples = 0;       // trained on, all epochs
  int64_t steps = 0;
  double final_loss = 0;
  int64_t num_items = 0;
  int64_t num_users = 0;
  double train_seconds = 0;
};

// The summary as one JSON object (the manifest's "model"), and back: how
// `streamrec-model batch-model` reports to `streamrec batch`.
std::string ModelSummaryToJson(const BatchModelSummary& summary);
Result<BatchModelSummary> ModelSummaryFromJson(std::string_view json);

struct BatchManifest {
  int64_t format = 1;
  std::string view = "items";  // the view's name (the key of its announcement)
  int64_t version = 0;
  int64_t created_ms = 0;      // wall clock when written
  double build_seconds = 0;    // read + recompute + write
  BatchSource source;          // the cutoff
  // Counts.
  int64_t records = 0;         // lines or records read
  int64_t events = 0;          // valid events applied
  int64_t rejected = 0;
  int64_t items = 0;
  int64_t pairs = 0;
  int64_t neighbor_lists = 0;
  double total_weight = 0;
  int64_t max_event_ts_ms = 0;
  // The options that shaped the state (so a reader can tell whether it matches its own).
  std::string similarity;
  int64_t top_k = 0;
  int64_t window_size = 0;
  int64_t window_horizon_ms = 0;
  double cooc_half_life_s = 0;
  int64_t popularity_half_life_ms = 0;
  int64_t estimator_array_size = 0;
  int64_t estimator_hashes = 0;
  double estimator_alpha = 0;
  // The model trained with the view, when there is one ("model": null otherwise).
  bool has_model = false;
  BatchModelSummary model;
  std::vector<ManifestFile> files;
  std::string dir;  // where it lies (not stored; filled by the reader)

  std::string ToJson() const;
  static Result<BatchManifest> FromJson(std::string_view json);
};

inline constexpr char kManifestFileName[] = "manifest.json";
inline constexpr char kViewDirName[] = "view";

// "batch-v000007".
std::string VersionDirName(int64_t version);
// The complete versions under `root` (a batch-v<N> directory holding a manifest),
// ascending. Empty when root does not exist.
std::vector<int64_t> ListVersions(const std::string& root);
// The manifest of the highest complete version; NotFound when there is none.
Result<BatchManifest> LatestVersion(const std::string& root);
// Reads and parses <dir>/manifest.json (dir filled in).
Result<BatchManifest> ReadManifest(const std::string& dir);
// Checks every file the manifest lists against its size and checksum; Corruption naming
// the first that differs.
Status VerifyVersion(const BatchManifest& manifest);

// A version under construction: a private temporary directory under `root`. Removes
// leftovers of interrupted runs (temporary directories whose process is gone) when it
// begins. Destroyed without Commit(): the temporary directory is removed.
// Thread-compatible.
class VersionBuilder {
 public:
  static Result<std::unique_ptr<VersionBuilder>> Begin(const std::string& root);
  ~VersionBuilder();
  VersionBuilder(const VersionBuilder&) = delete;
  VersionBuilder& operator=(const VersionBuilder&) = delete;

  // The temporary directory to write the version's files into.
  const std::string& dir() const { return dir_; }
  // Lists and checksums every file under dir(), takes the next free version number,
  // writes the manifest and renames the directory to <root>/batch-v<N>. Returns the
  // manifest as written (version, files and dir filled in).
  Result<BatchManifest> Commit(BatchManifest manifest);

 private:
  VersionBuilder(std::string root, std::string dir) : root_(std::move(root)), dir_(std::move(dir)) {}
  std::string root_;
  std::string dir_;
  bool committed_ = false;
};

// XXH3-64 (seed 0) of a file's bytes, as 16 hex digits.
Result<std::string> FileChecksum(const std::string& path);

}  // namespace streamrec::batch
