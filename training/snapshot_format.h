#pragma once

// Internal to training/: the byte layouts of a snapshot's files (training/snapshot.h
// describes the directory). Shared by the trainer (writer) and ModelSnapshot (reader).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "training/two_tower.h"

namespace streamrec::training::snapshot_format {

inline constexpr char kManifestFile[] = "manifest.json";
inline constexpr char kParamsFile[] = "params.bin";
inline constexpr char kItemsFile[] = "items.bin";
inline constexpr char kIdsFile[] = "ids.bin";
inline constexpr char kOptimizerFile[] = "optimizer.pt";

// Every parameter of `model` by name: "SRPARAM1", count, then per tensor name, rank,
// sizes and float32 data.
std::string EncodeParams(TwoTowerModel& model);
// Copies the tensors into `model` (names and shapes must match exactly; no NaN/Inf).
// `side_tables_may_lack`: the bytes may instead hold every tensor but the item side tables
// (a snapshot written before them), which then keep their values.
Status DecodeParamsInto(std::string_view bytes, TwoTowerModel& model,
                        bool side_tables_may_lack = false);

struct IdMaps {
  std::vector<std::pair<uint64_t, int64_t>> users;       // IdTable::Entries()
  std::vector<std::pair<uint64_t, int64_t>> items;
  // Unused since the side tables are hashed buckets (always written empty; an older
  // snapshot's entries are read and ignored).
  std::vector<std::pair<uint64_t, int64_t>> categories;
  std::vector<std::pair<uint64_t, std::string>> item_names;
  std::vector<std::pair<uint64_t, uint64_t>> item_categories;  // item key -> category key
  // item key -> brand key; absent in older snapshots (read as empty).
  std::vector<std::pair<uint64_t, uint64_t>> item_brands;
};
std::string EncodeIds(const IdMaps& ids);
Result<IdMaps> DecodeIds(std::string_view bytes);

struct ItemMatrix {
  std::vector<uint64_t> keys;
  std::vector<std::string> ids;
  int64_t dim = 0;
  std::vector<float> embeddings;  // [keys.size(), dim]
};
std::string EncodeItems(const ItemMatrix& items);
Result<ItemMatrix> DecodeItems(std::string_view bytes);

// XXH3-64 of the bytes as 16 hex digits.
std::string Checksum(std::string_view bytes);
// Checksum over the three per-file checksums.
std::string CombinedChecksum(const std::string& params, const std::string& items,
                             const std::string& ids);

Status WriteFile(const std::string& path, std::string_view bytes);
Result<std::string> ReadFile(const std::string& path);

}  // namespace streamrec::training::snapshot_format
