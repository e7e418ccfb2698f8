#include "state/stores.h"

#include <algorithm>
#include <vector>

#include "state/counter_merge.h"
#include "state/encoding.h"

namespace streamrec::state {

Result<std::optional<std::string>> KeyValueStore::Get(std::string_view key) const {
  probe_.assign(key.data(), key.size());
  auto it = overlay_.find(probe_);
  if (it != overlay_.end()) return it->second;
  return db_->Get(cf_, key);
}

void KeyValueStore::Put(std::string_view key, std::string_view value) {
  overlay_[std::string(key)] = std::string(value);
}

void KeyValueStore::Delete(std::string_view key) { overlay_[std::string(key)] = std::nullopt; }

Status KeyValueStore::Clear() {
  overlay_.clear();
  auto it = db_->NewIterator(cf_, "");
  for (; it->Valid(); it->Next()) overlay_[std::string(it->key())] = std::nullopt;
  return it->status();
}

namespace {

// A map's entries in key order. A batch written in key order costs RocksDB far less: each
// memtable insert starts from where the previous one ended (the skip list's cached
// splice) instead of from the top, which was most of a commit's cost (bench/RESULTS.md).
template <typename Map>
std::vector<const typename Map::value_type*> InKeyOrder(const Map& map) {
  std::vector<const typename Map::value_type*> sorted;
  sorted.reserve(map.size());
  for (const auto& entry : map) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* x, const auto* y) { return x->first < y->first; });
  return sorted;
}

}  // namespace

void KeyValueStore::PrepareCommit() {
  for (const auto* entry : InKeyOrder(overlay_)) {
    const auto& [key, value] = *entry;
    if (value.has_value()) {
      batch_->Put(cf_, key, *value);
    } else {
      batch_->Delete(cf_, key);
    }
  }
}

void CounterStore::PrepareCommit() {
  std::string sum;
  for (const auto* entry : InKeyOrder(pending_)) {
    const auto& [key, p] = *entry;
    if (p.reset) batch_->Delete(cf_, key);
    if (p.delta.empty()) continue;
    if (!p.reset && p.base_size >= 0) {
      // The merge operator's own arithmetic over the committed value seen.
      const std::string operand = EncodeCounter(p.delta);
      const std::string base = p.base_size == 1 ? EncodeCounter(p.base) : std::string();
      const std::string_view base_view(base);
      if (AddCounters(p.base_size == 1 ? &base_view : nullptr, operand, &sum)) {
        batch_->Put(cf_, key, sum);
        continue;
      }
    }
    batch_->Merge(cf_, key, EncodeCounter(p.delta));
  }
}

Status CounterStore::Clear() {
  pending_.clear();
  auto it = db_->NewIterator(cf_, "");
  for (; it->Valid(); it->Next()) pending_[std::string(it->key())].reset = true;
  return it->status();
}

CounterStore::Pending& CounterStore::PendingOf(std::string_view key) {
  probe_.assign(key.data(), key.size());
  auto it = pending_.find(probe_);
  if (it != pending_.end()) return it->second;
  return pending_.emplace(std::string(key), Pending()).first->second;
}

void CounterStore::Add(std::string_view key, const std::vector<double>& delta) {
  auto& p = PendingOf(key).delta;
  if (p.size() < delta.size()) p.resize(delta.size(), 0.0);
  for (size_t i = 0; i < delta.size(); ++i) p[i] += delta[i];
}

void CounterStore::Add(std::string_view key, double delta) {
  auto& p = PendingOf(key).delta;
  if (p.empty()) p.push_back(0.0);
  p[0] += delta;
}

Result<std::vector<double>> CounterStore::Get(std::string_view key) const {
  probe_.assign(key.data(), key.size());
  auto it = pending_.find(probe_);
  std::vector<double> v;
  if (it == pending_.end() || !it->second.reset) {
    auto committed = db_->Get(cf_, key);
    if (!committed.ok()) return committed.status();
    if (committed->has_value()) {
      if ((*committed)->size() % 8 != 0) return Status::Corruption("counter " + name_ + ": bad value size");
      v = DecodeCounter(**committed);
    }
  }
  if (it != pending_.end()) {
    const std::vector<double>& d = it->second.delta;
    if (v.size() < d.size()) v.resize(d.size(), 0.0);
    for (size_t i = 0; i < d.size(); ++i) v[i] += d[i];
  }
  return v;
}

Result<double> CounterStore::GetScalar(std::string_view key) const {
  auto v = Get(key);
  if (!v.ok()) return v.status();
  return v->empty() ? 0.0 : (*v)[0];
}

Result<std::vector<double>> CounterStore::GetScalars(const std::vector<std::string_view>& keys) {
  std::vector<double> out(keys.size(), 0.0);
  // Keys whose committed value counts (not reset in this commit), read together.
  std::vector<std::string_view> read;
  std::vector<size_t> read_index;
  std::vector<Pending*> pending(keys.size(), nullptr);
  for (size_t i = 0; i < keys.size(); ++i) {
    probe_.assign(keys[i].data(), keys[i].size());
    auto it = pending_.find(probe_);
    if (it != pending_.end()) pending[i] = &it->second;
    if (it == pending_.end() || !it->second.reset) {
      read.push_back(keys[i]);
      read_index.push_back(i);
    }
  }
  if (!read.empty()) {
    auto committed = db_->MultiGet(cf_, read);
    if (!committed.ok()) return committed.status();
    for (size_t j = 0; j < read.size(); ++j) {
      const std::optional<std::string>& value = (*committed)[j];
      Pending* p = pending[read_index[j]];
      if (!value.has_value() || value->empty()) {
        if (p != nullptr) p->base_size = 0;
        continue;
      }
      if (value->size() % 8 != 0) return Status::Corruption("counter " + name_ + ": bad value size");
      out[read_index[j]] = DecodeDouble(value->data());
      if (p != nullptr && value->size() == 8) {
        p->base_size = 1;
        p->base = out[read_index[j]];
      }
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (pending[i] != nullptr && !pending[i]->delta.empty()) out[i] += pending[i]->delta[0];
  }
  return out;
}

}  // namespace streamrec::state
