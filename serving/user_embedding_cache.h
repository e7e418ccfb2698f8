#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"

namespace prometheus {
class Counter;
}

namespace streamrec::serving {

struct UserEmbeddingCacheOptions {
  // Users whose embedding is kept (serving.user_embedding_cache.max_entries); 0 turns
  // the cache off. An entry costs the embedding (4 bytes × dim) plus ~120 bytes of
  // bookkeeping: at dim 64 the default holds at most ~37 MiB. Least recently used
  // entries go first (LRU within a shard; the bound is split evenly over the shards).
  size_t max_entries = 100'000;
  size_t num_shards = 16;
};

// The user tower's output per user, reused while nothing it depends on changed: the
// model version, the user's history version (UserHistoryStore::UserState::version,
// bumped by every click recorded for the user) and the window's length after the
// horizon cut (a request at a later time may cut old entries off the same version; the
// cut only drops the oldest, so the length tells the windows apart). An entry whose
// key differs is a miss and is replaced. A model swap therefore invalidates every entry
// at once (the new version never matches), without a pass over the cache; the old
// version's entries age out by LRU.
//
// Threads: Lookup/Insert from any request thread (HTTP workers, the Kafka requests
// thread's request_threads); each shard has its own mutex, held only for the map/list
// update, never while encoding. Counts streamrec_user_embedding_cache_total{result=
// "hit"|"miss"} (a request with the cache off counts nothing).
class UserEmbeddingCache {
 public:
  using Options = UserEmbeddingCacheOptions;
  explicit UserEmbeddingCache(Options options = {});

  struct Key {
    uint64_t user_key = 0;
    int64_t model_version = 0;
    uint64_t history_version = 0;
    size_t window_size = 0;
  };

  bool enabled() const { return max_entries_ > 0; }
  // The cached embedding for `key` (counts a hit), or nullopt (counts a miss).
  std::optional<std::vector<float>> Lookup(const Key& key) const;
  // Stores (or replaces) the user's embedding; evicts the least recently used entry of
  // the shard when it is full.
  void Insert(const Key& key, std::vector<float> embedding);
  size_t size() const;
  size_t max_entries() const { return max_entries_; }

 private:
  struct Entry {
    Key key;
    std::vector<float> embedding;
  };
  struct Shard {
    mutable Mutex mu;
    // Most recently used first.
    mutable std::list<Entry> lru GUARDED_BY(mu);
    std::unordered_map<uint64_t, std::list<Entry>::iterator> index GUARDED_BY(mu);
  };
  Shard& ShardFor(uint64_t user_key) const {
    return *shards_[(user_key ^ (user_key >> 31)) % shards_.size()];
  }

  const size_t max_entries_;
  size_t per_shard_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  prometheus::Counter* hits_ = nullptr;
  prometheus::Counter* misses_ = nullptr;
};

}  // namespace streamrec::serving
