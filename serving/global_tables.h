#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/flat_key_map.h"
#include "core/metrics.h"
#include "core/records.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "streams/catalog.h"

namespace streamrec::serving {

// The compacted tables the serving operator reads as global tables (every replica holds
// all of them): the `items` catalogue, `streamrec.item-neighbors` and
// `streamrec.item-stats`. One consuming thread calls Apply() (and Publish() after each
// poll batch); any number of serving threads read concurrently. Values are immutable
// and shared (`shared_ptr<const V>`), so a reader keeps what it got even while the
// consumer replaces it. Rows are keyed by HashId(item id).

// A map from item key to an immutable value, split into shards each under its own
// mutex, so point reads from many threads rarely contend. Each row also keeps a small
// copy of its value's hottest field (`Hot`, e.g. availability), readable without
// touching the value: a request asks it of each of its thousand candidates, and the
// value's own cache line was most of that cost at 100k items. Thread-safe.
template <typename V, typename Hot = bool>
class ShardedTable {
 public:
  explicit ShardedTable(size_t num_shards = 64) {
    shards_.reserve(num_shards);
    for (size_t i = 0; i < num_shards; ++i) shards_.push_back(std::make_unique<Shard>());
  }

  std::shared_ptr<const V> Get(uint64_t key) const {
    Shard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    const Row* row = shard.map.find(key);
    return row == nullptr ? nullptr : row->value;
  }

  // The row's hot field, or nullopt when the key is absent.
  std::optional<Hot> GetHot(uint64_t key) const {
    Shard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    const Row* row = shard.map.find(key);
    if (row == nullptr) return std::nullopt;
    return row->hot;
  }

  // `bytes` is the caller's estimate of what the row holds (its value and the value's
  // heap blocks); bytes() sums them.
  void Put(uint64_t key, std::shared_ptr<const V> value, Hot hot = Hot(), size_t bytes = 0) {
    Shard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    Row* old = shard.map.find(key);
    if (old == nullptr) {
      size_.fetch_add(1, std::memory_order_relaxed);
    } else {
      bytes_.fetch_sub(old->bytes, std::memory_order_relaxed);
    }
    shard.map[key] = Row{std::move(value), hot, bytes};
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }

  bool Erase(uint64_t key) {
    Shard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    const Row* old = shard.map.find(key);
    if (old == nullptr) return false;
    bytes_.fetch_sub(old->bytes, std::memory_order_relaxed);
    shard.map.erase(key);
    size_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // The sum of the rows' `bytes` as given to Put().
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Calls fn(key, const shared_ptr<const V>&) for every row, one shard locked at a time
  // (fn must not call back into the table). For the consumer thread's periodic
  // Publish(); not for request paths.
  template <typename F>
  void ForEach(F&& fn) const {
    for (const auto& shard : shards_) {
      MutexLock lock(&shard->mu);
      for (const auto& [key, row] : shard->map) fn(key, row.value);
    }
  }

 private:
  struct Row {
    std::shared_ptr<const V> value;
    Hot hot;
    size_t bytes = 0;
  };
  struct Shard {
    mutable Mutex mu;
    // Flat: a lookup is one probe of an index and one entry, not a bucket chain.
    FlatKeyMap<Row> map GUARDED_BY(mu);
  };
  Shard& ShardFor(uint64_t key) const {
    // Keys are XXH3 hashes already; mix the high bits in for good measure.
    return *shards_[(key ^ (key >> 32)) % shards_.size()];
  }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> bytes_{0};
};

// A table's estimated bytes on /metrics: its share of
// `streamrec_serving_table_bytes{table=...}`, the series every table of that name in the
// process adds to. Used by the consumer thread that applies the table.
class TableBytesGauge : public GaugeShare {
 public:
  explicit TableBytesGauge(const std::string& table);
};

// The item catalogue (`items` topic). Apply() with no value is a tombstone (deletes).
// Publish() rebuilds the cold-start fallback list (available items, ordered by id, at
// most `fallback_size`). Thread-safe; Apply/Publish from one consumer thread.
class ItemCatalog {
 public:
  explicit ItemCatalog(size_t fallback_size = 1000) : fallback_size_(fallback_size) {}

  // `key` is the message key (the item id); the value's item_id must agree with it
  // when both are present.
  Status Apply(std::string_view key, std::optional<std::string_view> value);
  void Put(CatalogItem item);
  void Publish();

  std::shared_ptr<const CatalogItem> Get(uint64_t item_key) const { return table_.Get(item_key); }
  // Whether the item is available; nullopt when the catalogue does not know it. Copies
  // nothing (the request path asks it of every candidate).
  std::optional<bool> Available(uint64_t item_key) const { return table_.GetHot(item_key); }
  size_t size() const { return table_.size(); }
  // Estimated bytes of the catalogue held (also streamrec_serving_table_bytes{table="items"}).
  size_t bytes() const { return table_.bytes(); }
  // Available items by id, at most fallback_size, as of the last Publish().
  std::shared_ptr<const std::vector<std::shared_ptr<const CatalogItem>>> Fallback() const;

 private:
  const size_t fallback_size_;
  ShardedTable<CatalogItem, bool> table_;  // hot: available
  TableBytesGauge bytes_gauge_{"items"};
  std::atomic<bool> dirty_{false};
  mutable Mutex mu_;
  std::shared_ptr<const std::vector<std::shared_ptr<const CatalogItem>>> fallback_ GUARDED_BY(mu_);
};

// The ids of the items that neighbour lists mention, each held once however many lists
// mention it (at full lists an item is in ~top_k of them), with the number of lists that
// hold it: the last list to let an id go frees it, so ids of items no list mentions any
// more do not accumulate. Shared by a NeighborTable and its lists (a reader may hold a
// list past the table). Thread-safe: the table's consumer acquires, whichever thread
// drops a list's last reference releases.
class NeighborIds {
 public:
  // An interned id. `id` never changes while any list holds the entry.
  struct InternedId {
    explicit InternedId(std::string_view s) : id(s) {}
    const std::string id;
    // Lists holding it; raised only under mu_, lowered by any list's destruction.
    mutable std::atomic<uint32_t> lists{0};
  };

  // The entry of (key, id), interned if absent, held once more; the ids of `n` items.
  // An empty id is not interned: its entry is nullptr.
  void Acquire(size_t n, const uint64_t* keys, const std::string_view* ids, const InternedId** out);
  // Lets go of one hold on each entry (the key is the one it was acquired under; nullptr
  // entries are skipped); an entry nothing holds any more is freed.
  void Release(size_t n, const uint64_t* keys, const InternedId* const* entries);

  // Distinct ids held.
  size_t size() const;
  // Estimated bytes of the ids held (each: its map node, bucket and string).
  size_t bytes() const;

 private:
  mutable Mutex mu_;
  // Keyed by HashId(id); a multimap so that two ids of one hash stay apart. Nodes: an
  // entry's address is stable while it is held.
  std::unordered_multimap<uint64_t, InternedId> entries_ GUARDED_BY(mu_);
  size_t bytes_ GUARDED_BY(mu_) = 0;
};

// One item's neighbour list as serving holds it (issue 12 item 5): per neighbour its key,
// its similarity and count as published (doubles: the cooc score sums them, so a
// narrower type would change answers) and a pointer to its interned id, 32 bytes where
// core/records.h Neighbor takes 56 plus a heap block for an id past 15 characters.
// Immutable; its ids stay valid while the list is held.
class NeighborList {
 public:
  // What a list costs per neighbour.
  static constexpr size_t kBytesPerNeighbor = 32;

  NeighborList(std::shared_ptr<NeighborIds> ids, const ItemNeighbors& list);
  ~NeighborList();
  NeighborList(const NeighborList&) = delete;
  NeighborList& operator=(const NeighborList&) = delete;

  uint64_t item_key() const { return item_key_; }
  std::string_view item_id() const {
    return item_id_ != nullptr ? std::string_view(item_id_->id) : std::string_view();
  }
  int64_t updated_ts_ms() const { return updated_ts_ms_; }
  // Neighbours, best first, as published.
  size_t size() const { return neighbors_.size(); }
  bool empty() const { return neighbors_.empty(); }
  uint64_t key(size_t j) const { return neighbors_[j].item_key; }
  std::string_view id(size_t j) const {
    return neighbors_[j].id != nullptr ? std::string_view(neighbors_[j].id->id) : std::string_view();
  }
  // The same id where it lives (valid while the list is held), nullptr when it is empty;
  // reads no memory of the id (the request path points at ids it may never read).
  const std::string* interned_id(size_t j) const {
    return neighbors_[j].id != nullptr ? &neighbors_[j].id->id : nullptr;
  }
  double score(size_t j) const { return neighbors_[j].score; }
  double count(size_t j) const { return neighbors_[j].count; }
  // A copy in the published form.
  ItemNeighbors ToItemNeighbors() const;
  // Bytes this list holds besides the ids (its object and neighbour array).
  size_t bytes() const;

 private:
  struct CompactNeighbor {
    uint64_t item_key;
    const NeighborIds::InternedId* id;  // nullptr: an empty id
    double score;
    double count;
  };
  static_assert(sizeof(CompactNeighbor) == kBytesPerNeighbor);

  const std::shared_ptr<NeighborIds> ids_;
  uint64_t item_key_ = 0;
  const NeighborIds::InternedId* item_id_ = nullptr;
  int64_t updated_ts_ms_ = 0;
  std::vector<CompactNeighbor> neighbors_;
};

// `streamrec.item-neighbors` (core/records.h ItemNeighbors, best first), held compact
// (NeighborList: ids interned once per distinct item). Get() gives what Put() stored:
// the same keys, ids, scores, counts and order. Thread-safe; Apply/Put from one
// consumer thread.
class NeighborTable {
 public:
  Status Apply(std::string_view key, std::optional<std::string_view> value);
  void Put(const ItemNeighbors& neighbors);
  std::shared_ptr<const NeighborList> Get(uint64_t item_key) const { return table_.Get(item_key); }
  size_t size() const { return table_.size(); }
  // Distinct item ids the lists hold (each list's own and its neighbours').
  size_t ids() const { return ids_->size(); }
  // Estimated bytes of the lists and their interned ids (also
  // streamrec_serving_table_bytes{table="neighbors"}, as of the last Apply/Put): bounded
  // by the catalogue times the published list length, filling as lists lengthen. A
  // list a reader still holds after it was replaced is not counted.
  size_t bytes() const { return table_.bytes() + ids_->bytes(); }

 private:
  const std::shared_ptr<NeighborIds> ids_ = std::make_shared<NeighborIds>();
  ShardedTable<NeighborList> table_;
  TableBytesGauge bytes_gauge_{"neighbors"};
};

// The ranking lists built from item stats at Publish() time.
struct StatsSnapshot {
  struct Entry {
    uint64_t item_key = 0;
    std::string item_id;
    double value = 0;
  };
  std::vector<Entry> trending;    // by decayed popularity, descending; ties by item id
  double max_popularity = 0;      // over all items
};

// `streamrec.item-stats` (core/records.h ItemStats). Publish() rebuilds the trending
// list (top `top_n` by decayed popularity). Thread-safe; Apply/Publish from one consumer
// thread.
class StatsTable {
 public:
  explicit StatsTable(size_t top_n = 1000) : top_n_(top_n) {}

  Status Apply(std::string_view key, std::optional<std::string_view> value);
  void Put(ItemStats stats);
  void Publish();

  std::shared_ptr<const ItemStats> Get(uint64_t item_key) const { return table_.Get(item_key); }
  // The item's decayed popularity, 0 when unknown. Copies nothing (asked per candidate).
  double Popularity(uint64_t item_key) const { return table_.GetHot(item_key).value_or(0.0); }
  size_t size() const { return table_.size(); }
  // Estimated bytes of the stats held (also streamrec_serving_table_bytes{table="stats"}).
  size_t bytes() const { return table_.bytes(); }
  // As of the last Publish(); never null.
  std::shared_ptr<const StatsSnapshot> Snapshot() const;

 private:
  const size_t top_n_;
  ShardedTable<ItemStats, double> table_;  // hot: popularity
  TableBytesGauge bytes_gauge_{"stats"};
  std::atomic<bool> dirty_{false};
  mutable Mutex mu_;
  std::shared_ptr<const StatsSnapshot> snapshot_ GUARDED_BY(mu_) =
      std::make_shared<const StatsSnapshot>();
};

}  // namespace streamrec::serving
