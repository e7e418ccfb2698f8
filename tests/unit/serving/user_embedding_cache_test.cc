#include "serving/user_embedding_cache.h"

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "core/metrics.h"
#include "serving/recommendation_service.h"

namespace streamrec::serving {
namespace {

using Key = UserEmbeddingCache::Key;

TEST(UserEmbeddingCacheTest, HitOnlyWhenModelHistoryVersionAndWindowLengthMatch) {
  UserEmbeddingCache cache({/*max_entries=*/100, /*num_shards=*/4});
  const Key key{7, /*model_version=*/3, /*history_version=*/11, /*window_size=*/5};
  EXPECT_FALSE(cache.Lookup(key).has_value());
  cache.Insert(key, {1.0f, 2.0f});
  ASSERT_TRUE(cache.Lookup(key).has_value());
  EXPECT_THAT(*cache.Lookup(key), ::testing::ElementsAre(1.0f, 2.0f));
  EXPECT_FALSE(cache.Lookup({7, 4, 11, 5}).has_value());  // another model version
  EXPECT_FALSE(cache.Lookup({7, 3, 12, 5}).has_value());  // the user's window changed
  EXPECT_FALSE(cache.Lookup({7, 3, 11, 4}).has_value());  // the horizon cut an entry off
  EXPECT_FALSE(cache.Lookup({8, 3, 11, 5}).has_value());  // another user
  // A newer key replaces the user's entry (one entry per user).
  cache.Insert({7, 4, 11, 5}, {3.0f});
  EXPECT_FALSE(cache.Lookup(key).has_value());
  EXPECT_THAT(*cache.Lookup({7, 4, 11, 5}), ::testing::ElementsAre(3.0f));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(UserEmbeddingCacheTest, BoundHoldsAndEvictsLeastRecentlyUsed) {
  UserEmbeddingCache cache({/*max_entries=*/8, /*num_shards=*/1});
  for (uint64_t u = 1; u <= 8; ++u) cache.Insert({u, 1, 1, 1}, {static_cast<float>(u)});
  EXPECT_EQ(cache.size(), 8u);
  ASSERT_TRUE(cache.Lookup({1, 1, 1, 1}).has_value());  // 1 becomes the most recent
  cache.Insert({100, 1, 1, 1}, {0.0f});                  // evicts 2, the least recent
  EXPECT_EQ(cache.size(), 8u);
  EXPECT_TRUE(cache.Lookup({1, 1, 1, 1}).has_value());
  EXPECT_FALSE(cache.Lookup({2, 1, 1, 1}).has_value());
  EXPECT_TRUE(cache.Lookup({100, 1, 1, 1}).has_value());

  // Sharded, from several threads: never above the bound.
  UserEmbeddingCache sharded({/*max_entries=*/50, /*num_shards=*/16});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sharded, t] {
      for (uint64_t u = 0; u < 2000; ++u) {
        const uint64_t key = HashId("user-" + std::to_string(t * 2000 + u));
        sharded.Insert({key, 1, 1, 1}, std::vector<float>(16, 1.0f));
        sharded.Lookup({key, 1, 1, 1});
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(sharded.size(), 50u);
  EXPECT_GT(sharded.size(), 0u);

  UserEmbeddingCache off({/*max_entries=*/0, /*num_shards=*/16});
  EXPECT_FALSE(off.enabled());
  off.Insert({1, 1, 1, 1}, {1.0f});
  EXPECT_FALSE(off.Lookup({1, 1, 1, 1}).has_value());
  EXPECT_EQ(off.size(), 0u);
}

// The mean-pooling encoder, counting its calls.
class CountingEncoder : public UserEncoder {
 public:
  CountingEncoder(std::shared_ptr<const ItemEmbeddings> items, std::atomic<int>* calls)
      : inner_(NewMeanPoolingUserEncoder(std::move(items))), calls_(calls) {}
  Result<std::vector<float>> Encode(std::string_view user_id,
                                    const std::vector<HistoryEntry>& history) const override {
    calls_->fetch_add(1);
    return inner_->Encode(user_id, history);
  }

 private:
  std::unique_ptr<UserEncoder> inner_;
  std::atomic<int>* calls_;
};

class ModelLoader : public Loader<TwoTowerModel> {
 public:
  ModelLoader(int64_t version, std::vector<float> vectors, std::atomic<int>* calls)
      : version_(version), vectors_(std::move(vectors)), calls_(calls) {}
  Result<std::shared_ptr<const TwoTowerModel>> Load() override {
    auto items = ItemEmbeddings::Create({"a", "b", "c", "d", "e", "f"}, 2, vectors_);
    if (!items.ok()) return items.status();
    auto index = NewEmbeddingIndex(*items, {});
    if (!index.ok()) return index.status();
    return std::shared_ptr<const TwoTowerModel>(std::make_shared<TwoTowerModel>(
        version_, *items, std::move(index).value(),
        std::make_unique<CountingEncoder>(*items, calls_)));
  }

 private:
  int64_t version_;
  std::vector<float> vectors_;
  std::atomic<int>* calls_;
};

// Two models over the same items with different geometry, so a stale embedding would
// change the answer.
const std::vector<float> kModel1 = {1, 0, 0, 1, 0.6f, 0.8f, 0.96f, 0.28f, -1, 0, 0, -1};
const std::vector<float> kModel2 = {0, 1, 1, 0, 0.8f, -0.6f, -0.28f, 0.96f, 0.7f, 0.7f, -1, 0};

RecommendationServiceOptions OnlyTwoTower(size_t cache_entries) {
  RecommendationServiceOptions o;
  o.recommender.channels = kChannelTwoTower;
  o.recommender.two_tower_candidates = 10;
  o.embedding_cache.max_entries = cache_entries;
  return o;
}

std::vector<ScoredItem> Ask(const RecommendationService& s, const std::string& user) {
  RecRequest r;
  r.user_id = user;
  r.k = 4;
  auto resp = s.Recommend(r);
  EXPECT_TRUE(resp.ok()) << resp.status().ToString();
  return resp.ok() ? resp->items : std::vector<ScoredItem>{};
}

void Swap(RecommendationService& s, int64_t version, const std::vector<float>& vectors,
          std::atomic<int>* calls) {
  std::vector<AspiredVersion<TwoTowerModel>> v(1);
  v[0].version = version;
  v[0].loader = std::make_unique<ModelLoader>(version, vectors, calls);
  ASSERT_TRUE(s.models().SetAspiredVersions(std::move(v)).ok());
  ASSERT_EQ(s.models().version(), version);
}

void Click(RecommendationService& s, const std::string& user, const std::string& item,
           int64_t ts) {
  s.history().Record(HashId(user), HashId(item), item, ts);
}

TEST(UserEmbeddingCacheServiceTest, SameAnswersAsWithoutCacheClickAndSwapInvalidate) {
  std::atomic<int> calls_on{0};
  std::atomic<int> calls_off{0};
  RecommendationService on(OnlyTwoTower(1000));
  RecommendationService off(OnlyTwoTower(0));
  Swap(on, 1, kModel1, &calls_on);
  Swap(off, 1, kModel1, &calls_off);
  for (RecommendationService* s : {&on, &off}) {
    Click(*s, "u1", "a", 1000);
    Click(*s, "u2", "b", 1000);
  }
  const auto metric = [](const char* result) {
    const std::string text = SerializeMetrics();
    const std::string name = std::string("streamrec_user_embedding_cache_total{result=\"") + result + "\"} ";
    const size_t at = text.find(name);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size()));
  };
  const double hits0 = metric("hit");
  const double misses0 = metric("miss");
  ASSERT_GE(hits0, 0);

  // Repeated requests: the tower runs once per user with the cache, every time without.
  for (int i = 0; i < 3; ++i) {
    for (const char* u : {"u1", "u2"}) {
      const auto got = Ask(on, u);
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got, Ask(off, u));
    }
  }
  EXPECT_EQ(calls_on.load(), 2);
  EXPECT_EQ(calls_off.load(), 6);
  EXPECT_EQ(metric("hit") - hits0, 4);
  EXPECT_EQ(metric("miss") - misses0, 2);
  EXPECT_EQ(on.embedding_cache().size(), 2u);

  // A click changes u1's window: the next answer is encoded from the new window.
  const auto before = Ask(on, "u1");
  for (RecommendationService* s : {&on, &off}) Click(*s, "u1", "e", 2000);
  const auto after = Ask(on, "u1");
  EXPECT_EQ(after, Ask(off, "u1"));
  EXPECT_NE(after, before);
  EXPECT_EQ(calls_on.load(), 3);
  Ask(on, "u2");  // u2 untouched: still cached
  EXPECT_EQ(calls_on.load(), 3);

  // A model swap: every user is encoded again, by the new model.
  Swap(on, 2, kModel2, &calls_on);
  Swap(off, 2, kModel2, &calls_off);
  for (const char* u : {"u1", "u2"}) EXPECT_EQ(Ask(on, u), Ask(off, u));
  EXPECT_EQ(calls_on.load(), 5);
  for (const char* u : {"u1", "u2"}) Ask(on, u);
  EXPECT_EQ(calls_on.load(), 5);
}

}  // namespace
}  // namespace streamrec::serving
