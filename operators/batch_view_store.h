#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "operators/batch_view.h"

namespace streamrec::operators {

// What WriteItemStateDb wrote.
struct ItemStateDbSummary {
  uint64_t items = 0;
  uint64_t pairs = 0;           // (a, b) entries, both directions
  uint64_t neighbor_lists = 0;  // non-empty top-K lists
};

// Writes a batch view as ONE item-stage store: a RocksDB with the item stage's column
// families and key layout (item_stage.h: pairs, counts with "total", popularity, topk,
// ids, estimator with its "e" entries and "step"; dedup empty), as if a single item-stage
// partition had consumed every event. The database is built in `path` + ".build"
// (write batches in key order), flushed, closed and renamed to `path` (which must not exist): SST files and a MANIFEST, no WAL
// to replay. `stop` is polled between chunks: when it returns true the write ends with
// Unavailable("stopped") and leaves whatever it wrote for the caller to remove.
Result<ItemStateDbSummary> WriteItemStateDb(const BatchViewBuilder& view, const std::string& path,
                                            const std::function<bool()>& stop = {});

// Reads the pairs, counts and top-K lists of one item-stage store (one partition of a
// stopped item stage, or a batch view's), keeping the entries of the items owned by
// `partition` of `num_partitions` (ItemPartition; 0 of 1 keeps all). A pair of an item
// the partition does not own is Corruption (each pair lives with its first item).
// Accumulates into *view (events += the owned items' occurrences).
Status ReadItemStateDb(const std::string& path, int32_t partition, int32_t num_partitions, BatchView* view);

// Calls `fn` with every entry of one store (column family: kPairsStore, kCountsStore,
// ...) of an item-stage RocksDB opened read-only (a batch view's `view/`), in key order;
// stops at the first error `fn` returns. What the item stage copies when it re-bases
// onto a batch view (operators/lambda.h).
Status ScanItemStateDb(const std::string& path, const std::string& store,
                       const std::function<Status(std::string_view key, std::string_view value)>& fn);

}  // namespace streamrec::operators
