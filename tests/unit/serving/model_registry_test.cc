#include "serving/model_registry.h"

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "serving/embedding_index.h"
#include "serving/two_tower_model.h"

namespace streamrec::serving {
namespace {

// A tiny servable: the manager under test is generic; this is what it serves.
struct TestServable {
  int64_t version = 0;
  std::string payload;
};

class TestLoader : public Loader<TestServable> {
 public:
  TestLoader(int64_t version, bool corrupt, std::atomic<int>* loads)
      : version_(version), corrupt_(corrupt), loads_(loads) {}
  Result<std::shared_ptr<const TestServable>> Load() override {
    if (loads_ != nullptr) loads_->fetch_add(1);
    if (corrupt_) return Status::Corruption("checksum mismatch");
    return std::make_shared<const TestServable>(
        TestServable{version_, "payload-" + std::to_string(version_)});
  }

 private:
  int64_t version_;
  bool corrupt_;
  std::atomic<int>* loads_;
};

std::vector<AspiredVersion<TestServable>> Aspire(int64_t version, bool corrupt = false,
                                                 std::atomic<int>* loads = nullptr) {
  std::vector<AspiredVersion<TestServable>> v;
  v.push_back({version, std::make_unique<TestLoader>(version, corrupt, loads)});
  return v;
}

AspiredVersionsManagerOptions Component(const std::string& name) {
  AspiredVersionsManagerOptions o;
  o.component = name;
  return o;
}

TEST(AspiredVersionsManagerTest, UnavailableBeforeFirstLoad) {
  AspiredVersionsManager<TestServable> manager(Component("t_empty"));
  EXPECT_EQ(manager.version(), 0);
  auto handle = manager.GetServableHandle();
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), Status::Code::kUnavailable);
}

TEST(AspiredVersionsManagerTest, SwapsAndInFlightHandleKeepsItsVersion) {
  AspiredVersionsManager<TestServable> manager(Component("t_swap"));
  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(1)).ok());
  auto in_flight = manager.GetServableHandle();
  ASSERT_TRUE(in_flight.ok());
  EXPECT_EQ(in_flight->version, 1);
  std::weak_ptr<const TestServable> v1 = in_flight->servable;

  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(2)).ok());
  EXPECT_EQ(manager.version(), 2);
  auto fresh = manager.GetServableHandle();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->version, 2);
  EXPECT_EQ((*fresh)->payload, "payload-2");
  // The request that started on version 1 still sees version 1 ...
  EXPECT_EQ((*in_flight)->payload, "payload-1");
  EXPECT_FALSE(v1.expired());
  // ... which is unloaded once the last handle is dropped.
  in_flight = Status::Unavailable("dropped");
  EXPECT_TRUE(v1.expired());
}

TEST(AspiredVersionsManagerTest, RefusesCorruptVersionAndKeepsOld) {
  AspiredVersionsManager<TestServable> manager(Component("t_corrupt"));
  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(1)).ok());
  Status st = manager.SetAspiredVersions(Aspire(2, /*corrupt=*/true));
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_EQ(st.message(), "version 2 refused, still serving version 1: checksum mismatch");
  EXPECT_EQ(manager.last_refusal(), st);
  EXPECT_EQ(manager.version(), 1);
  EXPECT_EQ((*manager.GetServableHandle())->payload, "payload-1");
  // A corrupt first version leaves nothing loaded, and says so.
  AspiredVersionsManager<TestServable> empty(Component("t_corrupt_first"));
  EXPECT_FALSE(empty.SetAspiredVersions(Aspire(1, true)).ok());
  EXPECT_FALSE(empty.GetServableHandle().ok());
}

TEST(AspiredVersionsManagerTest, VersionsNeverGoBackwards) {
  std::atomic<int> loads{0};
  AspiredVersionsManager<TestServable> manager(Component("t_backwards"));
  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(5, false, &loads)).ok());
  EXPECT_TRUE(manager.SetAspiredVersions(Aspire(3, false, &loads)).ok());
  EXPECT_TRUE(manager.SetAspiredVersions(Aspire(5, false, &loads)).ok());
  EXPECT_EQ(loads.load(), 1);  // older and equal versions are not even loaded
  EXPECT_EQ(manager.version(), 5);
}

TEST(AspiredVersionsManagerTest, TriesNewestFirstAndFallsBackToNextNewest) {
  std::atomic<int> loads{0};
  AspiredVersionsManager<TestServable> manager(Component("t_multi"));
  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(1, false, &loads)).ok());
  std::vector<AspiredVersion<TestServable>> v;
  v.push_back({4, std::make_unique<TestLoader>(4, false, &loads)});
  v.push_back({6, std::make_unique<TestLoader>(6, true, &loads)});
  v.push_back({5, std::make_unique<TestLoader>(5, false, &loads)});
  EXPECT_TRUE(manager.SetAspiredVersions(std::move(v)).ok());
  EXPECT_EQ(manager.version(), 5);
  EXPECT_EQ(loads.load(), 3);  // 1, then 6 (refused), then 5; 4 is moot
}

class TestSource : public Source<TestServable> {
 public:
  void SetAspiredVersionsCallback(AspiredVersionsCallback callback) override {
    callback_ = std::move(callback);
  }
  Status Announce(int64_t version, bool corrupt) { return callback_(Aspire(version, corrupt)); }

 private:
  AspiredVersionsCallback callback_;
};

TEST(AspiredVersionsManagerTest, ConcurrentReadersNeverFailDuringSwaps) {
  AspiredVersionsManager<TestServable> manager(Component("t_concurrent"));
  TestSource source;
  manager.ConnectSource(&source);
  ASSERT_TRUE(source.Announce(1, false).ok());

  std::atomic<bool> stop{false};
  std::atomic<int64_t> failures{0};
  std::atomic<int64_t> backwards{0};
  std::atomic<int64_t> mismatched{0};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!stop.load()) {
        auto handle = manager.GetServableHandle();
        if (!handle.ok()) {
          failures.fetch_add(1);
          continue;
        }
        if (handle->version < last) backwards.fetch_add(1);
        last = handle->version;
        if ((*handle)->payload != "payload-" + std::to_string(handle->version)) {
          mismatched.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    });
  }
  int refused = 0;
  for (int64_t v = 2; v <= 60; ++v) {
    const bool corrupt = v % 5 == 0;
    Status st = source.Announce(v, corrupt);
    if (!st.ok()) ++refused;
    EXPECT_EQ(st.ok(), !corrupt) << v;
    // Let the readers run between swaps.
    const int64_t target = reads.load() + 50;
    while (reads.load() < target) std::this_thread::yield();
  }
  // Let the readers see the final version before stopping.
  while (reads.load() < 1000) std::this_thread::yield();
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(mismatched.load(), 0);
  EXPECT_EQ(refused, 12);  // 5, 10, ..., 60
  EXPECT_EQ(manager.version(), 59);
}

TEST(AspiredVersionsManagerTest, ExportsVersionAndOutcomes) {
  // A fresh label per run: the registry is process-wide (and --gtest_repeat reruns).
  static int run = 0;
  const std::string c = "t_metrics_" + std::to_string(run++);
  AspiredVersionsManager<TestServable> manager(Component(c));
  ASSERT_TRUE(manager.SetAspiredVersions(Aspire(3)).ok());
  EXPECT_FALSE(manager.SetAspiredVersions(Aspire(4, true)).ok());
  EXPECT_TRUE(manager.SetAspiredVersions(Aspire(2)).ok());
  const std::string text = SerializeMetrics();
  const std::string label = "{component=\"" + c + "\"";
  EXPECT_NE(text.find("streamrec_model_version" + label + "} 3"), std::string::npos);
  EXPECT_NE(text.find("streamrec_model_loads_total" + label + ",result=\"loaded\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("streamrec_model_loads_total" + label + ",result=\"refused\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("streamrec_model_loads_total" + label + ",result=\"stale\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("streamrec_model_swap_seconds_count" + label + "} 1"), std::string::npos);
}

// --- the two-tower servable's own validation ---

std::shared_ptr<const ItemEmbeddings> Embeddings(std::vector<std::string> ids,
                                                 std::vector<float> values) {
  auto e = ItemEmbeddings::Create(std::move(ids), 2, std::move(values));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : nullptr;
}

TEST(ItemEmbeddingsTest, ValidatesShapesIdsAndValues) {
  EXPECT_EQ(ItemEmbeddings::Create({"a", "b"}, 2, {1, 2, 3}).status().message(),
            "embedding shape mismatch: 2 ids x 2 dims but 3 values");
  EXPECT_EQ(ItemEmbeddings::Create({"a", "b"}, 2, {1, 2, 3, NAN}).status().code(),
            Status::Code::kCorruption);
  EXPECT_EQ(ItemEmbeddings::Create({"a", "a"}, 2, {1, 2, 3, 4}).status().message(),
            "duplicate item id 'a' in embeddings");
  EXPECT_FALSE(ItemEmbeddings::Create({"a"}, 0, {}).ok());
}

TEST(EmbeddingIndexTest, ExactAndHnswAgreeOnSmallSet) {
  std::vector<std::string> ids;
  std::vector<float> values;
  for (int i = 0; i < 64; ++i) {
    ids.push_back("i" + std::to_string(i));
    const float angle = static_cast<float>(i) * 0.04f;
    values.push_back(std::cos(angle));
    values.push_back(std::sin(angle));
  }
  auto e = Embeddings(ids, values);
  auto exact = NewEmbeddingIndex(e, {});
  EmbeddingIndexOptions hnsw_options;
  hnsw_options.kind = EmbeddingIndexOptions::Kind::kHnsw;
  hnsw_options.hnsw_background_build = false;  // the graph answers, not the exact scan
  auto hnsw = NewEmbeddingIndex(e, hnsw_options);
  ASSERT_TRUE(exact.ok() && hnsw.ok());
  const float query[2] = {1.0f, 0.0f};
  auto a = (*exact)->Search(query, 3);
  auto b = (*hnsw)->Search(query, 3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].row, 0u);
  EXPECT_EQ(a[1].row, 1u);
  EXPECT_EQ(a[2].row, 2u);
  EXPECT_FLOAT_EQ(a[0].score, 1.0f);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a[i].row, b[i].row);
  EXPECT_EQ((*exact)->Search(query, 1000).size(), 64u);
}

TEST(EmbeddingIndexTest, ParallelHnswBuildHasHighRecall) {
  // 3000 random unit vectors in 16 dims; the graph is built by two threads.
  std::vector<std::string> ids;
  std::vector<float> values;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((state >> 40) % 2001) / 1000.0f - 1.0f;
  };
  for (int i = 0; i < 3000; ++i) {
    ids.push_back("i" + std::to_string(i));
    float norm = 0;
    std::vector<float> v(16);
    for (float& x : v) {
      x = next();
      norm += x * x;
    }
    for (float x : v) values.push_back(x / std::sqrt(norm));
  }
  auto e = ItemEmbeddings::Create(ids, 16, values);
  ASSERT_TRUE(e.ok());
  EmbeddingIndexOptions hnsw_options;
  hnsw_options.kind = EmbeddingIndexOptions::Kind::kHnsw;
  hnsw_options.hnsw_build_threads = 2;
  hnsw_options.hnsw_background_build = false;
  auto exact = NewEmbeddingIndex(*e, {});
  auto hnsw = NewEmbeddingIndex(*e, hnsw_options);
  ASSERT_TRUE(exact.ok() && hnsw.ok());
  size_t found = 0;
  for (size_t q = 0; q < 20; ++q) {
    const float* query = (*e)->row(q * 100);
    auto truth = (*exact)->Search(query, 10);
    auto approx = (*hnsw)->Search(query, 10);
    ASSERT_EQ(approx.size(), 10u);
    for (const auto& t : truth) {
      for (const auto& a : approx) found += a.row == t.row ? 1 : 0;
    }
  }
  EXPECT_GE(found, 180u) << "recall@10 below 0.9";
}

TEST(CheckModelSanityTest, RefusesAModelWorseThanRandom) {
  // Items on two opposite clusters; users click within the cluster of their window.
  auto good = Embeddings({"a", "b", "c", "d"}, {0.9f, 0.1f, 1, 0, -0.9f, -0.1f, -1, 0});
  // The "bad" model swapped b and d: every clicked item scores below any other item.
  auto bad = Embeddings({"a", "b", "c", "d"}, {0.9f, 0.1f, -1, 0, -0.9f, -0.1f, 1, 0});
  std::vector<UserHistoryStore::RecentEvent> events;
  for (int i = 0; i < 40; ++i) {
    UserHistoryStore::RecentEvent e;
    e.user_key = static_cast<uint64_t>(i);
    const bool left = i % 2 == 0;
    const std::string seen = left ? "a" : "c";
    e.history.push_back(HistoryEntry{HashId(seen), seen, 0});
    e.item.item_id = left ? "b" : "d";
    e.item.item_key = HashId(e.item.item_id);
    events.push_back(e);
  }
  auto make = [](std::shared_ptr<const ItemEmbeddings> items) {
    auto index = NewEmbeddingIndex(items, {});
    return TwoTowerModel(1, items, std::move(index).value(), NewMeanPoolingUserEncoder(items));
  };
  SanityCheckOptions options;
  options.min_events = 32;
  double accuracy = -1;
  EXPECT_TRUE(CheckModelSanity(make(good), events, options, &accuracy).ok());
  // The clicked item is the nearest to the window: it beats every other item.
  EXPECT_DOUBLE_EQ(accuracy, 1.0);
  Status st = CheckModelSanity(make(bad), events, options, &accuracy);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition) << st.ToString();
  EXPECT_DOUBLE_EQ(accuracy, 0.0);
  // Too few events: only finiteness is checked.
  events.resize(10);
  EXPECT_TRUE(CheckModelSanity(make(bad), events, options, &accuracy).ok());
}

TEST(CheckModelSanityTest, RefusesAModelFarBelowTheServingOne) {
  // Eight items on a circle, a user's window is one item and the click its neighbour.
  std::vector<std::string> ids;
  std::vector<float> circle;
  for (int i = 0; i < 8; ++i) {
    ids.push_back("i" + std::to_string(i));
    circle.push_back(static_cast<float>(std::cos(i * M_PI / 4)));
    circle.push_back(static_cast<float>(std::sin(i * M_PI / 4)));
  }
  std::vector<UserHistoryStore::RecentEvent> events;
  for (int i = 0; i < 64; ++i) {
    UserHistoryStore::RecentEvent e;
    e.user_key = static_cast<uint64_t>(i * 7919);
    const int from = i % 8;
    e.history.push_back(HistoryEntry{HashId(ids[from]), ids[from], 0});
    e.item.item_id = ids[(from + 1) % 8];
    e.item.item_key = HashId(e.item.item_id);
    events.push_back(e);
  }
  // "worse": items 4..7 scattered, so the clicks from their half mostly lose.
  std::vector<float> scattered = circle;
  for (int i = 4; i < 8; ++i) {
    scattered[2 * i] = static_cast<float>(std::cos((3 * i + 1) * M_PI / 4));
    scattered[2 * i + 1] = static_cast<float>(std::sin((3 * i + 1) * M_PI / 4));
  }
  auto make = [](const std::vector<std::string>& ids, const std::vector<float>& v, int64_t version) {
    auto items = Embeddings(ids, v);
    auto index = NewEmbeddingIndex(items, {});
    return TwoTowerModel(version, items, std::move(index).value(), NewMeanPoolingUserEncoder(items));
  };
  const TwoTowerModel serving = make(ids, circle, 1);
  const TwoTowerModel worse = make(ids, scattered, 2);
  SanityCheckOptions options;
  options.min_events = 32;
  options.min_pairwise_accuracy = 0.5;
  SanityScore score;
  ASSERT_TRUE(CheckModelSanity(serving, events, options, &score).ok());
  EXPECT_EQ(score.events, 64u);
  const double serving_accuracy = score.accuracy;
  // Alone, the worse model passes the absolute bar...
  ASSERT_TRUE(CheckModelSanity(worse, events, options, &score).ok());
  const double worse_accuracy = score.accuracy;
  EXPECT_GE(worse_accuracy, 0.5);
  EXPECT_LT(worse_accuracy, serving_accuracy - 0.05);
  // ...but not beside the serving one: both scored on the same 64 pairs.
  Status st = CheckModelSanity(worse, events, options, &score, &serving);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(score.compared, 64u);
  EXPECT_DOUBLE_EQ(score.serving_accuracy, serving_accuracy);
  EXPECT_DOUBLE_EQ(score.compared_accuracy, worse_accuracy);
  // Within the margin it is swapped in; a negative margin turns the comparison off.
  options.max_drop_vs_serving = 1.0;
  EXPECT_TRUE(CheckModelSanity(worse, events, options, &score, &serving).ok());
  options.max_drop_vs_serving = -1;
  EXPECT_TRUE(CheckModelSanity(worse, events, options, &score, &serving).ok());
  // A model as good as the serving one passes.
  options.max_drop_vs_serving = 0.05;
  EXPECT_TRUE(CheckModelSanity(make(ids, circle, 3), events, options, &score, &serving).ok());
}

}  // namespace
}  // namespace streamrec::serving
