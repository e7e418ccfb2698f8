#include "serving/embedding_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <functional>
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
#include "serving/int16_scan.h"

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
    if (e->row_of_.contains(key)) {
      return Status::InvalidArgument("duplicate item id '" + ids[i] + "' in embeddings");
    }
    e->row_of_[key] = static_cast<int64_t>(i);
    e->keys_.push_back(key);
  }
  e->ids_ = std::move(ids);
  e->values_ = std::move(values);
  return std::shared_ptr<const ItemEmbeddings>(std::move(e));
}

int64_t ItemEmbeddings::Find(uint64_t item_key) const {
  const int64_t* row = row_of_.find(item_key);
  return row == nullptr ? -1 : *row;
}

namespace {

bool Better(const EmbeddingIndex::Hit& a, const EmbeddingIndex::Hit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.row < b.row;
}

// The best k rows by Better, scored in float: `rows` (all rows when null), best first.
std::vector<EmbeddingIndex::Hit> TopK(const ItemEmbeddings& e, const float* query,
                                      const std::vector<size_t>* rows, size_t k) {
  // A min-heap of the best k so far (top is the worst kept).
  auto worse = [](const EmbeddingIndex::Hit& a, const EmbeddingIndex::Hit& b) {
    return Better(a, b);
  };
  std::priority_queue<EmbeddingIndex::Hit, std::vector<EmbeddingIndex::Hit>, decltype(worse)>
      heap(worse);
  const size_t n = rows != nullptr ? rows->size() : e.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t r = rows != nullptr ? (*rows)[i] : i;
    const EmbeddingIndex::Hit h{r, e.Dot(query, r)};
    if (heap.size() < k) {
      heap.push(h);
    } else if (Better(h, heap.top())) {
      heap.pop();
      heap.push(h);
    }
  }
  std::vector<EmbeddingIndex::Hit> out;
  out.reserve(heap.size());
  while (!heap.empty()) {
    out.push_back(heap.top());
    heap.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Exact top k by inner product, read mostly from an int16 copy of the matrix (half the
// float matrix's bytes, and integer multiply-adds):
//   1. every row's integer dot product with the quantised query (levels ±L per row and
//      for the query, L = ⌊√((2³¹−1)/dim)⌋: 5792 at 64 dims), and from it a guaranteed
//      interval [lo, hi] of the row's float score: with x = s_x·xq + δ (|δ| ≤ s_x/2)
//      and q likewise, |⟨x,q⟩ − s_x·s_q·⟨xq,qq⟩| ≤ s_x·s_q·(Σ|xq| + Σ|qq| + dim/2)/2,
//      widened by a margin for float rounding;
//   2. F = the k-th largest lo: k rows score at least F, so any row of the top k has
//      hi ≥ F; only those rows are scored in float, exactly as the plain scan scores
//      them.
// So the answer is the plain float scan's, ties included (unit tests compare them).
// int8 (a quarter of the bytes) was tried first: on the benchmark's trained 100k × 64
// snapshot its guaranteed intervals were wider than the spread of the top scores, and
// every row stayed a candidate.
class ExactIndex : public EmbeddingIndex {
 public:
  ExactIndex(std::shared_ptr<const ItemEmbeddings> e, bool prescan)
      : e_(std::move(e)),
        prescan_(prescan),
        dim_(static_cast<size_t>(e_->dim())),
        stride_((dim_ + 15) / 16 * 16),
        levels_(static_cast<float>(std::min<int64_t>(
            32767, static_cast<int64_t>(std::sqrt(2147483647.0 / static_cast<double>(dim_)))))),
        scan_(BestScanIsa()) {
    const size_t n = prescan_ ? e_->size() : 0;
    rows_.assign(n * stride_, 0);
    scale_.resize(n);
    l1_.resize(n);
    for (size_t r = 0; r < n; ++r) {
      const float* x = e_->row(r);
      float max_abs = 0;
      for (size_t i = 0; i < dim_; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
      if (max_abs > 0 && max_abs <= kMinScale) {
        // Too small to quantise safely (denormal scales): always scored in float.
        tiny_rows_.push_back(r);
        max_abs = 0;
      }
      scale_[r] = max_abs / levels_;
      double l1 = 0;
      for (size_t i = 0; i < dim_ && max_abs > 0; ++i) {
        const int v = Quantize(x[i], scale_[r]);
        rows_[r * stride_ + i] = static_cast<int16_t>(v);
        l1 += std::abs(v);
      }
      l1_[r] = static_cast<float>(l1);
    }
  }

  std::vector<Hit> Search(const float* query, size_t k) const override {
    const size_t n = e_->size();
    k = std::min(k, n);
    if (k == 0) return {};
    float max_abs = 0;
    for (size_t i = 0; i < dim_; ++i) max_abs = std::max(max_abs, std::fabs(query[i]));
    // A zero or non-finite query has no useful bounds: score everything in float.
    if (!prescan_ || !(max_abs > kMinScale) || !std::isfinite(max_abs) || k * 4 >= n) {
      return TopK(*e_, query, nullptr, k);
    }
    const float q_scale = max_abs / levels_;
    thread_local std::vector<int16_t> qq;
    qq.assign(stride_, 0);
    float q_l1 = 0;
    for (size_t i = 0; i < dim_; ++i) {
      qq[i] = static_cast<int16_t>(Quantize(query[i], q_scale));
      q_l1 += static_cast<float>(std::abs(qq[i]));
    }
    thread_local std::vector<int32_t> dots;
    dots.resize(n);
    ScanInt16(scan_, rows_.data(), n, stride_, qq.data(), dots.data());
    // Half-width of each interval, in units of s_x·s_q: (Σ|xq| + Σ|qq| + dim/2)/2, plus
    // a margin for float rounding: the float score's error is below dim·ε·Σ|x·q| ≤
    // dim²·ε·L²·s_x·s_q (ε = 2⁻²⁴), and these products' is smaller; twice that.
    const float d = static_cast<float>(dim_);
    const float fixed = 0.5f * (q_l1 + 0.5f * d) + d * d * levels_ * levels_ * 1.2e-7f;
    std::priority_queue<float, std::vector<float>, std::greater<float>> lows;  // best k lo
    for (size_t r = 0; r < n; ++r) {
      const float s = scale_[r] * q_scale;
      const float lo = s * (static_cast<float>(dots[r]) - 0.5f * l1_[r] - fixed);
      if (lows.size() < k) {
        lows.push(lo);
      } else if (lo > lows.top()) {
        lows.pop();
        lows.push(lo);
      }
    }
    const float floor = lows.top();
    thread_local std::vector<size_t> candidates;
    candidates.clear();
    for (size_t r = 0; r < n; ++r) {
      const float s = scale_[r] * q_scale;
      if (s * (static_cast<float>(dots[r]) + 0.5f * l1_[r] + fixed) >= floor) {
        candidates.push_back(r);
      }
    }
    const size_t scanned = candidates.size();  // ascending rows
    for (size_t r : tiny_rows_) {
      if (!std::binary_search(candidates.begin(), candidates.begin() + scanned, r)) {
        candidates.push_back(r);
      }
    }
    return TopK(*e_, query, &candidates, k);
  }
  const char* active_kind() const override { return "exact"; }

 private:
  // Below this a max |value| is not quantised (its scale would lose precision).
  static constexpr float kMinScale = 1e-30f;

  static int Quantize(float v, float scale) {
    const int level = static_cast<int>(std::lrint(v / scale));
    return std::max(-32767, std::min(32767, level));
  }

  std::shared_ptr<const ItemEmbeddings> e_;
  const bool prescan_;
  const size_t dim_;
  const size_t stride_;  // dim_ rounded up to 16 (zero padding)
  const float levels_;  // L: a row's (the query's) max |value| maps to ±L
  const ScanIsa scan_;
  std::vector<int16_t> rows_;  // n × stride_
  std::vector<float> scale_;   // s_x: a row's max |value| / L (0: an all-zero row)
  std::vector<float> l1_;      // Σ|xq| of a row
  std::vector<size_t> tiny_rows_;  // rows with 0 < max |value| ≤ kMinScale (scale_ 0)
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
      : exact_(e, options.exact_int16_prescan) {
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
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        spdlog::info("[serving] HNSW graph over {} items built in the background in {:.1f} s",
                     e->size(), took.count());
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
    return std::unique_ptr<EmbeddingIndex>(
        new ExactIndex(std::move(embeddings), options.exact_int16_prescan));
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
