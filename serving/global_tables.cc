#include "serving/global_tables.h"

#include <algorithm>
#include <tuple>

#include <prometheus/gauge.h>

#include "core/id_hash.h"
#include "core/metrics.h"

namespace streamrec::serving {
namespace {

// A short string lives inside std::string itself (libstdc++'s small-string buffer).
constexpr size_t kInlineStringCapacity = 15;
// What a row costs beside its value: the flat map's entry and index slot, make_shared's
// control block, malloc's header.
constexpr size_t kRowOverhead = 64;

size_t StringHeapBytes(const std::string& s) {
  return s.capacity() > kInlineStringCapacity ? s.capacity() + 1 : 0;
}

size_t RowBytes(const CatalogItem& item) {
  return kRowOverhead + sizeof(CatalogItem) + StringHeapBytes(item.item_id) +
         StringHeapBytes(item.category) + StringHeapBytes(item.brand) +
         StringHeapBytes(item.title);
}

// What an interned id costs beside its string's heap block: the multimap's node (next
// pointer, key, entry) with malloc's header, and its bucket.
constexpr size_t kIdOverhead = 16 + sizeof(std::pair<const uint64_t, NeighborIds::InternedId>) + 8;

size_t RowBytes(const ItemStats& stats) {
  return kRowOverhead + sizeof(ItemStats) + StringHeapBytes(stats.item_id);
}

}  // namespace

TableBytesGauge::TableBytesGauge(const std::string& table)
    : GaugeShare(&prometheus::BuildGauge()
                      .Name("streamrec_serving_table_bytes")
                      .Help("Estimated bytes of the global tables serving holds (items, "
                            "neighbors, stats), by table")
                      .Register(*MetricsRegistry())
                      .Add({{"table", table}})) {}

Status ItemCatalog::Apply(std::string_view key, std::optional<std::string_view> value) {
  if (!value.has_value()) {
    if (key.empty()) return Status::InvalidArgument("items tombstone without a key");
    if (table_.Erase(HashId(key))) dirty_.store(true);
    bytes_gauge_.Set(static_cast<double>(table_.bytes()));
    return Status::Ok();
  }
  Result<CatalogItem> item = ParseCatalogItem(*value);
  if (!item.ok()) return item.status();
  if (!key.empty() && key != item->item_id) {
    return Status::InvalidArgument("items message key '" + std::string(key) +
                                   "' differs from item_id '" + item->item_id + "'");
  }
  Put(std::move(item).value());
  return Status::Ok();
}

void ItemCatalog::Put(CatalogItem item) {
  if (item.item_key == 0) item.item_key = HashId(item.item_id);
  const uint64_t key = item.item_key;
  const bool available = item.available;
  const size_t bytes = RowBytes(item);
  table_.Put(key, std::make_shared<const CatalogItem>(std::move(item)), available, bytes);
  bytes_gauge_.Set(static_cast<double>(table_.bytes()));
  dirty_.store(true);
}

void ItemCatalog::Publish() {
  if (!dirty_.exchange(false)) return;
  std::vector<std::shared_ptr<const CatalogItem>> all;
  table_.ForEach([&](uint64_t, const std::shared_ptr<const CatalogItem>& item) {
    if (item->available) all.push_back(item);
  });
  auto by_id = [](const std::shared_ptr<const CatalogItem>& a,
                  const std::shared_ptr<const CatalogItem>& b) { return a->item_id < b->item_id; };
  if (all.size() > fallback_size_) {
    std::partial_sort(all.begin(), all.begin() + fallback_size_, all.end(), by_id);
    all.resize(fallback_size_);
  } else {
    std::sort(all.begin(), all.end(), by_id);
  }
  auto snapshot =
      std::make_shared<const std::vector<std::shared_ptr<const CatalogItem>>>(std::move(all));
  MutexLock lock(&mu_);
  fallback_ = std::move(snapshot);
}

std::shared_ptr<const std::vector<std::shared_ptr<const CatalogItem>>> ItemCatalog::Fallback()
    const {
  MutexLock lock(&mu_);
  return fallback_;
}

Status NeighborTable::Apply(std::string_view key, std::optional<std::string_view> value) {
  if (!value.has_value()) {
    if (key.empty()) return Status::InvalidArgument("item-neighbors tombstone without a key");
    table_.Erase(HashId(key));
    bytes_gauge_.Set(static_cast<double>(bytes()));
    return Status::Ok();
  }
  Result<ItemNeighbors> decoded = DecodeItemNeighbors(*value);
  if (!decoded.ok()) return decoded.status().WithContext("item-neighbors");
  if (!key.empty() && key != decoded->item_id) {
    return Status::InvalidArgument("item-neighbors key '" + std::string(key) +
                                   "' differs from item_id '" + decoded->item_id + "'");
  }
  Put(*decoded);
  return Status::Ok();
}

void NeighborTable::Put(const ItemNeighbors& neighbors) {
  auto list = std::make_shared<const NeighborList>(ids_, neighbors);
  const uint64_t key = list->item_key();
  const size_t row_bytes = kRowOverhead + list->bytes();
  table_.Put(key, std::move(list), false, row_bytes);
  bytes_gauge_.Set(static_cast<double>(bytes()));
}

void NeighborIds::Acquire(size_t n, const uint64_t* keys, const std::string_view* ids,
                          const InternedId** out) {
  MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i].empty()) {
      out[i] = nullptr;
      continue;
    }
    InternedId* entry = nullptr;
    auto [first, last] = entries_.equal_range(keys[i]);
    for (auto it = first; it != last; ++it) {
      if (it->second.id == ids[i]) {
        entry = &it->second;
        break;
      }
    }
    if (entry == nullptr) {
      auto it = entries_.emplace(std::piecewise_construct, std::forward_as_tuple(keys[i]),
                                 std::forward_as_tuple(ids[i]));
      entry = &it->second;
      bytes_ += kIdOverhead + StringHeapBytes(entry->id);
    }
    entry->lists.fetch_add(1, std::memory_order_relaxed);
    out[i] = entry;
  }
}

void NeighborIds::Release(size_t n, const uint64_t* keys, const InternedId* const* entries) {
  // Holds are dropped without the lock (a list's destruction usually frees no id: its
  // neighbours are in other lists too); the lock is taken only to free.
  std::vector<uint64_t> freed;
  for (size_t i = 0; i < n; ++i) {
    if (entries[i] == nullptr) continue;
    // acq_rel: the thread that frees sees every use of the entry before it.
    if (entries[i]->lists.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      freed.push_back(keys[i]);
    }
  }
  if (freed.empty()) return;
  MutexLock lock(&mu_);
  for (uint64_t key : freed) {
    // The entry may have been acquired again, or freed by another release, since its hold
    // reached 0: free whatever entry of this key nothing holds now (Acquire raises holds
    // only under mu_, so none can be raised meanwhile).
    auto [first, last] = entries_.equal_range(key);
    for (auto it = first; it != last;) {
      if (it->second.lists.load(std::memory_order_acquire) == 0) {
        bytes_ -= kIdOverhead + StringHeapBytes(it->second.id);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

size_t NeighborIds::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

size_t NeighborIds::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

NeighborList::NeighborList(std::shared_ptr<NeighborIds> ids, const ItemNeighbors& list)
    : ids_(std::move(ids)),
      item_key_(list.item_key != 0 ? list.item_key : HashId(list.item_id)),
      updated_ts_ms_(list.updated_ts_ms) {
  // Index 0 is the list's own item, then its neighbours in order.
  const size_t n = list.neighbors.size() + 1;
  std::vector<uint64_t> keys(n);
  std::vector<std::string_view> id_views(n);
  std::vector<const NeighborIds::InternedId*> entries(n);
  keys[0] = item_key_;
  id_views[0] = list.item_id;
  for (size_t j = 1; j < n; ++j) {
    keys[j] = list.neighbors[j - 1].item_key;
    id_views[j] = list.neighbors[j - 1].item_id;
  }
  ids_->Acquire(n, keys.data(), id_views.data(), entries.data());
  item_id_ = entries[0];
  neighbors_.reserve(list.neighbors.size());
  for (size_t j = 1; j < n; ++j) {
    const Neighbor& nb = list.neighbors[j - 1];
    neighbors_.push_back({nb.item_key, entries[j], nb.score, nb.count});
  }
}

NeighborList::~NeighborList() {
  const size_t n = neighbors_.size() + 1;
  std::vector<uint64_t> keys(n);
  std::vector<const NeighborIds::InternedId*> entries(n);
  keys[0] = item_key_;
  entries[0] = item_id_;
  for (size_t j = 1; j < n; ++j) {
    keys[j] = neighbors_[j - 1].item_key;
    entries[j] = neighbors_[j - 1].id;
  }
  ids_->Release(n, keys.data(), entries.data());
}

ItemNeighbors NeighborList::ToItemNeighbors() const {
  ItemNeighbors out;
  out.item_key = item_key_;
  out.item_id = std::string(item_id());
  out.updated_ts_ms = updated_ts_ms_;
  out.neighbors.reserve(neighbors_.size());
  for (size_t j = 0; j < neighbors_.size(); ++j) {
    const CompactNeighbor& s = neighbors_[j];
    out.neighbors.push_back({s.item_key, std::string(id(j)), s.score, s.count});
  }
  return out;
}

size_t NeighborList::bytes() const {
  return sizeof(NeighborList) + neighbors_.capacity() * sizeof(CompactNeighbor);
}

Status StatsTable::Apply(std::string_view key, std::optional<std::string_view> value) {
  if (!value.has_value()) {
    if (key.empty()) return Status::InvalidArgument("item-stats tombstone without a key");
    if (table_.Erase(HashId(key))) dirty_.store(true);
    bytes_gauge_.Set(static_cast<double>(table_.bytes()));
    return Status::Ok();
  }
  Result<ItemStats> decoded = DecodeItemStats(*value);
  if (!decoded.ok()) return decoded.status().WithContext("item-stats");
  if (!key.empty() && key != decoded->item_id) {
    return Status::InvalidArgument("item-stats key '" + std::string(key) +
                                   "' differs from item_id '" + decoded->item_id + "'");
  }
  Put(std::move(decoded).value());
  return Status::Ok();
}

void StatsTable::Put(ItemStats stats) {
  if (stats.item_key == 0) stats.item_key = HashId(stats.item_id);
  const uint64_t key = stats.item_key;
  const double popularity = stats.popularity;
  const size_t bytes = RowBytes(stats);
  table_.Put(key, std::make_shared<const ItemStats>(std::move(stats)), popularity, bytes);
  bytes_gauge_.Set(static_cast<double>(table_.bytes()));
  dirty_.store(true);
}

void StatsTable::Publish() {
  if (!dirty_.exchange(false)) return;
  auto snapshot = std::make_shared<StatsSnapshot>();
  std::vector<StatsSnapshot::Entry> all;
  all.reserve(table_.size());
  table_.ForEach([&](uint64_t key, const std::shared_ptr<const ItemStats>& s) {
    all.push_back({key, s->item_id, s->popularity});
    snapshot->max_popularity = std::max(snapshot->max_popularity, s->popularity);
  });
  auto better = [](const StatsSnapshot::Entry& a, const StatsSnapshot::Entry& b) {
    if (a.value != b.value) return a.value > b.value;
    return a.item_id < b.item_id;
  };
  if (all.size() > top_n_) {
    std::partial_sort(all.begin(), all.begin() + top_n_, all.end(), better);
    all.resize(top_n_);
  } else {
    std::sort(all.begin(), all.end(), better);
  }
  snapshot->trending = std::move(all);
  MutexLock lock(&mu_);
  snapshot_ = std::move(snapshot);
}

std::shared_ptr<const StatsSnapshot> StatsTable::Snapshot() const {
  MutexLock lock(&mu_);
  return snapshot_;
}

}  // namespace streamrec::serving
