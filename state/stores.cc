#include "state/stores.h"

#include <algorithm>

namespace streamrec::state {

Result<std::optional<std::string>> KeyValueStore::Get(std::string_view key) const {
  auto it = overlay_.find(std::string(key));
  if (it != overlay_.end()) return it->second;
  return db_->Get(cf_, key);
}

void KeyValueStore::Put(std::string_view key, std::string_view value) {
  overlay_[std::string(key)] = std::string(value);
}

void KeyValueStore::Delete(std::string_view key) { overlay_[std::string(key)] = std::nullopt; }

void KeyValueStore::PrepareCommit() {
  for (const auto& [key, value] : overlay_) {
    if (value.has_value()) {
      batch_->Put(cf_, key, *value);
    } else {
      batch_->Delete(cf_, key);
    }
  }
}

void CounterStore::PrepareCommit() {
  for (const auto& [key, delta] : pending_) batch_->Merge(cf_, key, EncodeCounter(delta));
}

void CounterStore::Add(std::string_view key, const std::vector<double>& delta) {
  auto& p = pending_[std::string(key)];
  if (p.size() < delta.size()) p.resize(delta.size(), 0.0);
  for (size_t i = 0; i < delta.size(); ++i) p[i] += delta[i];
}

Result<std::vector<double>> CounterStore::Get(std::string_view key) const {
  auto committed = db_->Get(cf_, key);
  if (!committed.ok()) return committed.status();
  std::vector<double> v;
  if (committed->has_value()) {
    if ((*committed)->size() % 8 != 0) return Status::Corruption("counter " + name_ + ": bad value size");
    v = DecodeCounter(**committed);
  }
  auto it = pending_.find(std::string(key));
  if (it != pending_.end()) {
    if (v.size() < it->second.size()) v.resize(it->second.size(), 0.0);
    for (size_t i = 0; i < it->second.size(); ++i) v[i] += it->second[i];
  }
  return v;
}

Result<double> CounterStore::GetScalar(std::string_view key) const {
  auto v = Get(key);
  if (!v.ok()) return v.status();
  return v->empty() ? 0.0 : (*v)[0];
}

}  // namespace streamrec::state
