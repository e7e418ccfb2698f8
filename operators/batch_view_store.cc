#include "operators/batch_view_store.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/file_system.h"
#include "operators/item_stage.h"
#include "state/encoding.h"
#include "state/state_db.h"

namespace streamrec::operators {
namespace {

// The item stage's estimator keys (item_stage.cc).
constexpr char kStepKey[] = "step";
constexpr char kEntryPrefix[] = "e";

// Entries per WriteBatch: bounds the memory of one batch (~100 bytes an entry).
constexpr int kChunkEntries = 100000;

state::StateDbOptions ItemStoreOptions(const std::string& path, bool read_only) {
  state::StateDbOptions o;
  o.path = path;
  o.read_only = read_only;
  o.column_families = {kPairsStore, kCountsStore, kPopularityStore, kTopKStore,
                       kIdsStore,   kDedupStore,  kEstimatorStore};
  o.counter_column_families = {kPairsStore, kCountsStore};
  return o;
}

// Writes through chunked WriteBatches, polling `stop` between chunks.
class ChunkedWriter {
 public:
  ChunkedWriter(state::StateDb* db, const std::function<bool()>& stop) : db_(db), stop_(stop) {}

  Status Put(state::ColumnFamilyId cf, std::string_view key, std::string_view value) {
    batch_.Put(cf, key, value);
    if (batch_.Count() >= kChunkEntries) return Commit();
    return Status::Ok();
  }
  Status Commit() {
    if (batch_.Count() > 0) {
      STREAMREC_RETURN_IF_ERROR(db_->Write(&batch_));
      batch_.Clear();
    }
    if (stop_ && stop_()) return Status::Unavailable("stopped");
    return Status::Ok();
  }

 private:
  state::StateDb* db_;
  const std::function<bool()>& stop_;
  state::StateWriteBatch batch_;
};

}  // namespace

Result<ItemStateDbSummary> WriteItemStateDb(const BatchViewBuilder& view, const std::string& path,
                                            const std::function<bool()>& stop) {
  if (file_system::Exists(path)) return Status::AlreadyExists(path + " exists");
  const std::string build_path = path + ".build";
  STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(build_path));
  ItemStateDbSummary summary;
  {
    auto opened = state::StateDb::Open(ItemStoreOptions(build_path, /*read_only=*/false));
    if (!opened.ok()) return opened.status();
    state::StateDb& db = **opened;
    auto cf = [&db](const char* name) { return db.ColumnFamily(name).value(); };
    const auto pairs_cf = cf(kPairsStore), counts_cf = cf(kCountsStore),
               popularity_cf = cf(kPopularityStore), topk_cf = cf(kTopKStore), ids_cf = cf(kIdsStore),
               estimator_cf = cf(kEstimatorStore);
    ChunkedWriter w(&db, stop);
    // The pairs (most of the view) and the estimator's entries are written in key order
    // straight into SST files (StateDb::NewBulkLoader); the small per-item tables go
    // through write batches.
    auto pairs = db.NewBulkLoader(pairs_cf);
    if (!pairs.ok()) return pairs.status();
    auto estimator_entries = db.NewBulkLoader(estimator_cf);
    if (!estimator_entries.ok()) return estimator_entries.status();
    std::string pair_key;
    // Keys in ascending order (sorted items, sorted neighbours): the memtable inserts
    // then append (about twice as fast as in hash order).
    std::vector<std::pair<uint64_t, double>> row_sorted;
    // Items in key order, so that the output is the same for the same events.
    std::vector<uint64_t> keys;
    keys.reserve(view.items().size());
    for (const auto& [key, item] : view.items()) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (uint64_t key : keys) {
      const BatchItem& item = view.items().at(key);
      const std::string k = state::Key64(key);
      STREAMREC_RETURN_IF_ERROR(
          w.Put(counts_cf, k, state::EncodeCounter({item.weight, static_cast<double>(item.occurrences)})));
      STREAMREC_RETURN_IF_ERROR(w.Put(popularity_cf, k, item.popularity.Serialize()));
      if (!item.item_id.empty()) STREAMREC_RETURN_IF_ERROR(w.Put(ids_cf, k, item.item_id));
      ++summary.items;
      row_sorted = view.pairs().Row(key);
      if (row_sorted.empty()) continue;
      pair_key = k;
      std::sort(row_sorted.begin(), row_sorted.end());
      for (const auto& [b, c_ab] : row_sorted) {
        state::PutBigEndian64(&pair_key, b);
        STREAMREC_RETURN_IF_ERROR((*pairs)->Put(pair_key, state::EncodeCounter(c_ab)));
        pair_key.resize(8);
        ++summary.pairs;
      }
      if (stop && stop()) return Status::Unavailable("stopped");
      if (view.options().top_k > 0) {
        TopKList list(view.options().top_k);
        list.Rebuild(view.TopNeighbors(key));
        if (!list.neighbors().empty()) {
          STREAMREC_RETURN_IF_ERROR(w.Put(topk_cf, k, list.Serialize()));
          ++summary.neighbor_lists;
        }
      }
    }
    STREAMREC_RETURN_IF_ERROR(w.Put(counts_cf, kTotalCountKey, state::EncodeCounter(view.total_weight())));
    const FrequencyEstimator& estimator = view.estimator();
    std::vector<size_t> entries = estimator.dirty_entries();  // every entry ever touched
    std::sort(entries.begin(), entries.end());
    for (size_t idx : entries) {  // "e" + big-endian index: ascending
      STREAMREC_RETURN_IF_ERROR(
          (*estimator_entries)->Put(kEntryPrefix + state::Key64(idx), estimator.SerializeEntry(idx)));
    }
    std::string step;
    state::PutDouble(&step, estimator.step());
    STREAMREC_RETURN_IF_ERROR((*estimator_entries)->Put(kStepKey, step));  // "step" > "e…"
    STREAMREC_RETURN_IF_ERROR((*pairs)->Finish());
    STREAMREC_RETURN_IF_ERROR((*estimator_entries)->Finish());
    STREAMREC_RETURN_IF_ERROR(w.Commit());
    STREAMREC_RETURN_IF_ERROR(db.Flush());
  }  // closed: the memtables are flushed, so the directory is SST files, no WAL to replay
  STREAMREC_RETURN_IF_ERROR(file_system::Rename(build_path, path));
  return summary;
}

Status ReadItemStateDb(const std::string& path, int32_t partition, int32_t num_partitions, BatchView* view) {
  auto db = state::StateDb::Open(ItemStoreOptions(path, /*read_only=*/true));
  if (!db.ok()) return db.status();
  auto pairs_cf = (*db)->ColumnFamily(kPairsStore);
  auto counts_cf = (*db)->ColumnFamily(kCountsStore);
  auto topk_cf = (*db)->ColumnFamily(kTopKStore);
  if (!pairs_cf.ok()) return pairs_cf.status();
  if (!counts_cf.ok()) return counts_cf.status();
  if (!topk_cf.ok()) return topk_cf.status();
  for (auto it = (*db)->NewIterator(*pairs_cf); it->Valid(); it->Next()) {
    if (it->key().size() != 16) return Status::Corruption("pairs: bad key in " + path);
    const uint64_t a = state::DecodeBigEndian64(it->key().data());
    const uint64_t b = state::DecodeBigEndian64(it->key().data() + 8);
    if (ItemPartition(a, num_partitions) != partition) {
      return Status::Corruption("pair of item owned by another partition in " + path);
    }
    auto v = state::DecodeCounter(it->value());
    view->pair_counts[{a, b}] += v.empty() ? 0.0 : v[0];
  }
  for (auto it = (*db)->NewIterator(*counts_cf); it->Valid(); it->Next()) {
    if (it->key().size() != 8) continue;  // the "total" key
    const uint64_t item = state::DecodeBigEndian64(it->key().data());
    if (ItemPartition(item, num_partitions) != partition) continue;
    auto v = state::DecodeCounter(it->value());
    view->item_counts[item] += v.size() > 0 ? v[0] : 0.0;
    const uint64_t n = v.size() > 1 ? static_cast<uint64_t>(v[1]) : 0;
    view->item_occurrences[item] += n;
    view->events += n;
  }
  for (auto it = (*db)->NewIterator(*topk_cf); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Status::Corruption("topk: bad key in " + path);
    const uint64_t item = state::DecodeBigEndian64(it->key().data());
    auto list = TopKList::Parse(it->value(), /*k=*/1u << 30);
    if (!list.ok()) return list.status().WithContext(path);
    if (!list->neighbors().empty()) view->top_neighbors[item] = list->neighbors();
  }
  return Status::Ok();
}

Status ScanItemStateDb(const std::string& path, const std::string& store,
                       const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  auto db = state::StateDb::Open(ItemStoreOptions(path, /*read_only=*/true));
  if (!db.ok()) return db.status().WithContext(path);
  auto cf = (*db)->ColumnFamily(store);
  if (!cf.ok()) return cf.status();
  auto it = (*db)->NewIterator(*cf);
  for (; it->Valid(); it->Next()) STREAMREC_RETURN_IF_ERROR(fn(it->key(), it->value()));
  return it->status();
}

}  // namespace streamrec::operators
