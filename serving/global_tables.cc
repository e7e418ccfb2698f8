#include "serving/global_tables.h"

#include <algorithm>

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

size_t RowBytes(const ItemNeighbors& list) {
  size_t bytes = kRowOverhead + sizeof(ItemNeighbors) + StringHeapBytes(list.item_id) +
                 list.neighbors.capacity() * sizeof(Neighbor);
  for (const Neighbor& n : list.neighbors) bytes += StringHeapBytes(n.item_id);
  return bytes;
}

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
    bytes_gauge_.Set(static_cast<double>(table_.bytes()));
    return Status::Ok();
  }
  Result<ItemNeighbors> decoded = DecodeItemNeighbors(*value);
  if (!decoded.ok()) return decoded.status().WithContext("item-neighbors");
  if (!key.empty() && key != decoded->item_id) {
    return Status::InvalidArgument("item-neighbors key '" + std::string(key) +
                                   "' differs from item_id '" + decoded->item_id + "'");
  }
  Put(std::move(decoded).value());
  return Status::Ok();
}

void NeighborTable::Put(ItemNeighbors neighbors) {
  if (neighbors.item_key == 0) neighbors.item_key = HashId(neighbors.item_id);
  const uint64_t key = neighbors.item_key;
  const size_t bytes = RowBytes(neighbors);
  table_.Put(key, std::make_shared<const ItemNeighbors>(std::move(neighbors)), false, bytes);
  bytes_gauge_.Set(static_cast<double>(table_.bytes()));
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
