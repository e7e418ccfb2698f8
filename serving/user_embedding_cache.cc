#include "serving/user_embedding_cache.h"

#include <algorithm>

#include "core/metrics.h"

namespace streamrec::serving {

UserEmbeddingCache::UserEmbeddingCache(Options options) : max_entries_(options.max_entries) {
  // Never more shards than entries, so the bound is exact: Σ per-shard ≤ max_entries.
  const size_t n = std::max<size_t>(1, std::min(options.num_shards, std::max<size_t>(1, max_entries_)));
  per_shard_ = max_entries_ / n;
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
  auto& family = prometheus::BuildCounter()
                     .Name("streamrec_user_embedding_cache_total")
                     .Help("User embedding cache lookups by result (hit: the user tower was "
                           "not run)")
                     .Register(*MetricsRegistry());
  hits_ = &family.Add({{"result", "hit"}});
  misses_ = &family.Add({{"result", "miss"}});
}

std::optional<std::vector<float>> UserEmbeddingCache::Lookup(const Key& key) const {
  if (!enabled()) return std::nullopt;
  Shard& shard = ShardFor(key.user_key);
  {
    MutexLock lock(&shard.mu);
    auto it = shard.index.find(key.user_key);
    if (it != shard.index.end()) {
      const Key& k = it->second->key;
      if (k.model_version == key.model_version && k.history_version == key.history_version &&
          k.window_size == key.window_size) {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
        std::vector<float> out = it->second->embedding;
        hits_->Increment();
        return out;
      }
    }
  }
  misses_->Increment();
  return std::nullopt;
}

void UserEmbeddingCache::Insert(const Key& key, std::vector<float> embedding) {
  if (!enabled() || per_shard_ == 0) return;
  Shard& shard = ShardFor(key.user_key);
  MutexLock lock(&shard.mu);
  auto it = shard.index.find(key.user_key);
  if (it != shard.index.end()) {
    it->second->key = key;
    it->second->embedding = std::move(embedding);
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  while (shard.lru.size() >= per_shard_) {
    shard.index.erase(shard.lru.back().key.user_key);
    shard.lru.pop_back();
  }
  shard.lru.push_front(Entry{key, std::move(embedding)});
  shard.index.emplace(key.user_key, shard.lru.begin());
}

size_t UserEmbeddingCache::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    n += shard->lru.size();
  }
  return n;
}

}  // namespace streamrec::serving
