#include "operators/state_inspection.h"

#include <filesystem>

#include "operators/cooccurrence.h"
#include "operators/item_stage.h"
#include "state/encoding.h"
#include "state/state_db.h"

namespace streamrec::operators {

Result<BatchView> ReadItemStageState(const std::string& state_dir, int32_t num_partitions) {
  BatchView view;
  for (int32_t p = 0; p < num_partitions; ++p) {
    state::StateDbOptions o;
    o.path = state_dir + "/item-" + std::to_string(p);
    if (!std::filesystem::exists(o.path)) continue;
    o.read_only = true;
    o.column_families = {kPairsStore, kCountsStore};
    o.counter_column_families = {kPairsStore, kCountsStore};
    auto db = state::StateDb::Open(o);
    if (!db.ok()) return db.status();
    auto pairs_cf = (*db)->ColumnFamily(kPairsStore);
    auto counts_cf = (*db)->ColumnFamily(kCountsStore);
    if (!pairs_cf.ok()) return pairs_cf.status();
    if (!counts_cf.ok()) return counts_cf.status();
    for (auto it = (*db)->NewIterator(*pairs_cf); it->Valid(); it->Next()) {
      if (it->key().size() != 16) return Status::Corruption("pairs: bad key in " + o.path);
      const uint64_t a = state::DecodeBigEndian64(it->key().data());
      const uint64_t b = state::DecodeBigEndian64(it->key().data() + 8);
      if (ItemPartition(a, num_partitions) != p) {
        return Status::Corruption("pair of item owned by another partition in " + o.path);
      }
      auto v = state::DecodeCounter(it->value());
      view.pair_counts[{a, b}] += v.empty() ? 0.0 : v[0];
    }
    for (auto it = (*db)->NewIterator(*counts_cf); it->Valid(); it->Next()) {
      if (it->key().size() != 8) continue;  // the "total" key
      const uint64_t item = state::DecodeBigEndian64(it->key().data());
      if (ItemPartition(item, num_partitions) != p) continue;
      auto v = state::DecodeCounter(it->value());
      view.item_counts[item] += v.size() > 0 ? v[0] : 0.0;
      const uint64_t n = v.size() > 1 ? static_cast<uint64_t>(v[1]) : 0;
      view.item_occurrences[item] += n;
      view.events += n;
    }
  }
  return view;
}

}  // namespace streamrec::operators
