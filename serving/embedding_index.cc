#include "serving/embedding_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_set>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <hnswlib/hnswlib.h>
#include <spdlog/spdlog.h>

#include "core/id_hash.h"

namespace streamrec::serving {

Result<std::shared_ptr<const ItemEmbeddings>> ItemEmbeddings::Create(std::vector<std::string> ids,
                                                                     int dim,
                                                                     std::vector<float> values) {
  if (dim <= 0) return Status::InvalidArgument("embedding dimension must be positive");
  if (values.size() != ids.size() * static_cast<size_t>(dim)) {
    return Status::InvalidArgument("embedding shape mismatch: " + std::to_string(ids.size()) +
                                   " ids x " + std::to_string(dim) + " dims but " +
                                   std::to_string(values.size()) + " values");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::Corruption("embedding of item '" + ids[i / static_cast<size_t>(dim)] +
                                "' has a non-finite value");
    }
  }
  std::shared_ptr<ItemEmbeddings> e(new ItemEmbeddings());
  e->dim_ = dim;
  e->keys_.reserve(ids.size());
  e->row_of_.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) return Status::InvalidArgument("empty item id in embeddings");
    const uint64_t key = HashId(ids[i]);
    if (!e->row_of_.emplace(key, static_cast<int64_t>(i)).second) {
      return Status::InvalidArgument("duplicate item id '" + ids[i] + "' in embeddings");
    }
    e->keys_.push_back(key);
  }
  e->ids_ = std::move(ids);
  e->values_ = std::move(values);
  return std::shared_ptr<const ItemEmbeddings>(std::move(e));
}

int64_t ItemEmbeddings::Find(uint64_t item_key) const {
  auto it = row_of_.find(item_key);
  return it == row_of_.end() ? -1 : it->second;
}

namespace {

bool Better(const EmbeddingIndex::Hit& a, const EmbeddingIndex::Hit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.row < b.row;
}

class ExactIndex : public EmbeddingIndex {
 public:
  explicit ExactIndex(std::shared_ptr<const ItemEmbeddings> e) : e_(std::move(e)) {}

  std::vector<Hit> Search(const float* query, size_t k) const override {
    k = std::min(k, e_->size());
    if (k == 0) return {};
    // A min-heap of the best k so far (top is the worst kept).
    auto worse = [](const Hit& a, const Hit& b) { return Better(a, b); };
    std::priority_queue<Hit, std::vector<Hit>, decltype(worse)> heap(worse);
    for (size_t r = 0; r < e_->size(); ++r) {
      const Hit h{r, e_->Dot(query, r)};
      if (heap.size() < k) {
        heap.push(h);
      } else if (Better(h, heap.top())) {
        heap.pop();
        heap.push(h);
      }
    }
    std::vector<Hit> out;
    out.reserve(heap.size());
    while (!heap.empty()) {
      out.push_back(heap.top());
      heap.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
  const char* active_kind() const override { return "exact"; }

 private:
  std::shared_ptr<const ItemEmbeddings> e_;
};

class HnswIndex : public EmbeddingIndex {
 public:
  // `cancel` (may be null): when it turns true the build stops early, leaving an
  // incomplete graph that the caller discards.
  HnswIndex(std::shared_ptr<const ItemEmbeddings> e, const EmbeddingIndexOptions& options,
            const std::atomic<bool>* cancel = nullptr)
      : e_(std::move(e)), space_(static_cast<size_t>(e_->dim())) {
    graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &space_, std::max<size_t>(1, e_->size()), static_cast<size_t>(options.hnsw_m),
        static_cast<size_t>(options.hnsw_ef_construction));
    // hnswlib's addPoint is thread-safe; rows are dealt out round-robin.
    const size_t n = e_->size();
    const size_t threads = std::max<size_t>(1, std::min<size_t>(
                                                   static_cast<size_t>(options.hnsw_build_threads),
                                                   n / 1000 + 1));
    if (n > 0) graph_->addPoint(e_->row(0), 0);
    std::vector<std::thread> workers;
    std::exception_ptr error;
    std::mutex error_mu;
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        try {
          for (size_t r = 1 + t; r < n; r += threads) {
            if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) break;
            graph_->addPoint(e_->row(r), r);
          }
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mu);
          error = std::current_exception();
        }
      });
    }
    for (auto& w : workers) w.join();
    if (error) std::rethrow_exception(error);
    graph_->setEf(static_cast<size_t>(options.hnsw_ef_search));
  }

  std::vector<Hit> Search(const float* query, size_t k) const override {
    k = std::min(k, e_->size());
    if (k == 0) return {};
    auto result = graph_->searchKnn(query, k);
    std::vector<Hit> out;
    out.reserve(result.size());
    while (!result.empty()) {
      const size_t r = result.top().second;
      out.push_back({r, e_->Dot(query, r)});  // exact score of the approximate hit
      result.pop();
    }
    std::sort(out.begin(), out.end(), Better);
    return out;
  }
  const char* active_kind() const override { return "hnsw"; }

 private:
  std::shared_ptr<const ItemEmbeddings> e_;
  hnswlib::InnerProductSpace space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
};

// The exact scan at once, the HNSW graph from when a background thread has built it.
// Search() reads one atomic pointer; the graph, once published, is never replaced.
class BackgroundHnswIndex : public EmbeddingIndex {
 public:
  BackgroundHnswIndex(std::shared_ptr<const ItemEmbeddings> e, const EmbeddingIndexOptions& options)
      : exact_(e) {
    builder_ = std::thread([this, e = std::move(e), options] { Build(e, options); });
  }
  ~BackgroundHnswIndex() override {
    cancel_.store(true, std::memory_order_relaxed);
    builder_.join();
  }

  std::vector<Hit> Search(const float* query, size_t k) const override {
    const EmbeddingIndex* hnsw = published_.load(std::memory_order_acquire);
    return hnsw != nullptr ? hnsw->Search(query, k) : exact_.Search(query, k);
  }
  const char* active_kind() const override {
    return published_.load(std::memory_order_acquire) != nullptr ? "hnsw" : "exact";
  }
  Status WaitUntilBuilt() const override {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return done_; });
    return status_;
  }

 private:
  void Build(const std::shared_ptr<const ItemEmbeddings>& e, const EmbeddingIndexOptions& options) {
#ifdef __linux__
    // Per-thread nice (Linux): the graph's worker threads, created below, inherit it.
    if (options.hnsw_background_nice != 0) {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                  options.hnsw_background_nice);
    }
#endif
    const auto start = std::chrono::steady_clock::now();
    Status status;
    try {
      auto graph = std::make_unique<HnswIndex>(e, options, &cancel_);
      if (cancel_.load(std::memory_order_relaxed)) {
        status = Status::Unavailable("HNSW build stopped: the index was released");
      } else {
        hnsw_ = std::move(graph);
        published_.store(hnsw_.get(), std::memory_order_release);
        spdlog::info("[serving] HNSW graph over {} items built in the background in {:.1f} s",
                     e->size(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    } catch (const std::exception& ex) {
      status = Status::Internal(std::string("building HNSW index: ") + ex.what());
      spdlog::warn("[serving] {}; the exact scan keeps answering", status.ToString());
    }
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

  ExactIndex exact_;
  std::unique_ptr<HnswIndex> hnsw_;  // written by builder_ before publishing
  std::atomic<const EmbeddingIndex*> published_{nullptr};
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable done_cv_;
  bool done_ = false;
  Status status_;
  std::thread builder_;  // started in the constructor body, once every member exists
};

}  // namespace

Result<std::unique_ptr<EmbeddingIndex>> NewEmbeddingIndex(
    std::shared_ptr<const ItemEmbeddings> embeddings, const EmbeddingIndexOptions& options) {
  if (embeddings == nullptr) return Status::InvalidArgument("no embeddings");
  const bool exact =
      options.kind == EmbeddingIndexOptions::Kind::kExact ||
      (options.kind == EmbeddingIndexOptions::Kind::kAuto &&
       embeddings->size() < options.auto_hnsw_min_items);
  if (exact) {
    return std::unique_ptr<EmbeddingIndex>(new ExactIndex(std::move(embeddings)));
  }
  if (options.hnsw_m < 2 || options.hnsw_ef_construction < 1 || options.hnsw_ef_search < 1) {
    return Status::InvalidArgument("bad HNSW parameters");
  }
  if (options.hnsw_background_build) {
    return std::unique_ptr<EmbeddingIndex>(
        new BackgroundHnswIndex(std::move(embeddings), options));
  }
  try {
    return std::unique_ptr<EmbeddingIndex>(new HnswIndex(std::move(embeddings), options));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("building HNSW index: ") + e.what());
  }
}

}  // namespace streamrec::serving
