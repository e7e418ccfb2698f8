#include "serving/serving_config.h"

#include "operators/item_stage.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace streamrec::serving {
namespace {

TEST(ServingOptionsFromConfigTest, DefaultsAndOverrides) {
  auto config = Config::FromYamlString(R"(
kafka:
  bootstrap.servers: "k1:9092"
topics:
  recommendations: recs2
serving:
  http: "0.0.0.0:0"
  max_k: 50
  weights: {two_tower: 0.5, cooc: 2}
  max_per_category: 3
  ann: hnsw
  hnsw: {background: false}
operators:
  window: {size: 10}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto o = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->brokers, "k1:9092");
  EXPECT_EQ(o->topics.recommendations, "recs2");
  EXPECT_EQ(o->topics.rec_requests, "rec-requests");
  EXPECT_EQ(o->http.host, "0.0.0.0");
  EXPECT_EQ(o->http.port, 0);
  EXPECT_EQ(o->service.limits.max_k, 50);
  EXPECT_EQ(o->service.limits.default_k, 20);
  EXPECT_EQ(o->service.recommender.two_tower_weight, 0.5);
  EXPECT_EQ(o->service.recommender.cooc_weight, 2);
  EXPECT_EQ(o->service.recommender.popular_weight, 0.3);
  EXPECT_EQ(o->service.recommender.cooc_history_items, 20u);
  EXPECT_EQ(o->service.recommender.cooc_neighbors_per_item, 200u);
  EXPECT_EQ(o->service.recommender.max_per_category, 3u);
  EXPECT_EQ(o->service.history.window.max_items, 10u);
  EXPECT_EQ(o->loader.index.kind, EmbeddingIndexOptions::Kind::kHnsw);
  EXPECT_FALSE(o->loader.index.hnsw_background_build);  // default true
  // Seen filter defaults: purchases filtered, 500 items a user.
  EXPECT_EQ(o->service.recommender.filter_seen_events, SeenItem::EventBit(EventType::kPurchase));
  EXPECT_EQ(o->service.history.seen_max_items, 500u);
  EXPECT_EQ(o->service.embedding_cache.max_entries, 100'000u);
  EXPECT_EQ(o->service.history.max_bytes, size_t{512} << 20);

  auto flags = ServingOptionsFromConfig(*config, "k2:1", "127.0.0.1:8081");
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->brokers, "k2:1");
  EXPECT_EQ(flags->http.port, 8081);
}

// Windows are rebuilt from a bounded time range by default (issue 10 item 2): 7 days
// back from the newest click; 0 (all the broker keeps) only when set so.
TEST(ServingOptionsFromConfigTest, WindowsLookbackIsBoundedByDefault) {
  auto parse = [](const std::string& yaml) {
    auto config = Config::FromYamlString(yaml);
    EXPECT_TRUE(config.ok());
    return ServingOptionsFromConfig(*config);
  };
  auto defaults = parse("serving: {max_k: 50}");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->windows_lookback_ms, 7 * 24 * 3'600'000LL);
  auto hours = parse("serving: {windows_lookback_hours: 1.5}");
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->windows_lookback_ms, 5'400'000);
  auto all = parse("serving: {windows_lookback_hours: 0}");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->windows_lookback_ms, 0);
  EXPECT_EQ(parse("serving: {windows_lookback_hours: -1}").status().message(),
            "serving.windows_lookback_hours must not be negative");
}

// The live ranker's examples: off with the ranker (its default), a tenth of the live
// clicks once it is enabled, and a rate outside [0, 1] refused.
TEST(ServingOptionsFromConfigTest, RankerExamplesRate) {
  auto parse = [](const std::string& yaml) {
    auto config = Config::FromYamlString(yaml);
    EXPECT_TRUE(config.ok());
    return ServingOptionsFromConfig(*config);
  };
  auto defaults = parse("{}");
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->service.recommender.ranker_enabled);
  EXPECT_DOUBLE_EQ(defaults->ranker_examples_rate, 0.1);
  auto set = parse("serving: {ranker: {enabled: true, examples_rate: 0.25}}");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->service.recommender.ranker_enabled);
  EXPECT_DOUBLE_EQ(set->ranker_examples_rate, 0.25);
  EXPECT_FALSE(parse("serving: {ranker: {examples_rate: 1.5}}").ok());
  EXPECT_FALSE(parse("serving: {ranker: {examples_rate: -0.1}}").ok());
}

// Serving reads as many neighbours per window item as the item stage publishes by
// default: a smaller read would waste the published tail, a larger one finds nothing.
TEST(ServingOptionsFromConfigTest, CoocReadsWhatTheItemStagePublishes) {
  auto config = Config::FromYamlString("{}");
  ASSERT_TRUE(config.ok());
  auto serving = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(serving.ok()) << serving.status().ToString();
  auto item = operators::ItemStageOptions::FromConfig(*config);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  EXPECT_EQ(item->top_k, 200u);
  EXPECT_EQ(serving->service.recommender.cooc_neighbors_per_item, item->top_k);
}

TEST(ServingOptionsFromConfigTest, TheRankingStageIsSwitchedByConfig) {
  auto defaults = ServingOptionsFromConfig(*Config::FromYamlString("{}"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->service.recommender.ranker_enabled);
  EXPECT_EQ(defaults->service.recommender.ranker_depth, 100u);
  auto on = ServingOptionsFromConfig(
      *Config::FromYamlString("serving: {ranker: {enabled: true, depth: 50}}"));
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->service.recommender.ranker_enabled);
  EXPECT_EQ(on->service.recommender.ranker_depth, 50u);
}

TEST(ServingOptionsFromConfigTest, BearerTokenComesFromAFile) {
  const std::string path =
      ::testing::TempDir() + "/token-" + std::to_string(::getpid()) + ".txt";
  auto options_with = [&](const std::string& content) {
    std::ofstream(path, std::ios::trunc) << content;
    auto config = Config::FromYamlString("serving: {http_bearer_token_file: \"" + path + "\"}");
    EXPECT_TRUE(config.ok());
    return ServingOptionsFromConfig(*config);
  };
  // A mounted Secret's trailing newline is not part of the token.
  auto o = options_with("  tok-123_ABC\n");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->http.bearer_token, "tok-123_ABC");
  EXPECT_EQ(options_with("\n \n").status().message(),
            "serving.http_bearer_token_file: " + path + " holds no token");
  EXPECT_FALSE(options_with("two words").ok());
  std::remove(path.c_str());
  auto config = Config::FromYamlString("serving: {http_bearer_token_file: /nonexistent/token}");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(ServingOptionsFromConfig(*config).status().message(),
            "serving.http_bearer_token_file: cannot read the bearer token file /nonexistent/token");
  // No file: no token, no check.
  auto plain = Config::FromYamlString("serving: {}");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(ServingOptionsFromConfig(*plain)->http.bearer_token, "");
}

TEST(ServingOptionsFromConfigTest, RejectsBadValues) {
  auto bad = [](const std::string& yaml) {
    auto config = Config::FromYamlString(yaml);
    EXPECT_TRUE(config.ok());
    return ServingOptionsFromConfig(*config).status().message();
  };
  EXPECT_EQ(bad("serving: {ann: faiss}"), "serving.ann must be auto, exact or hnsw, got 'faiss'");
  EXPECT_EQ(bad("serving: {max_k: 0}"),
            "serving.default_k and serving.max_k need 1 <= default <= max");
  EXPECT_EQ(bad("serving: {max_per_brand: -1}"), "serving.max_per_brand must not be negative");
  EXPECT_EQ(bad("serving: {http: nowhere}"), "expected HOST:PORT, got 'nowhere'");
  EXPECT_NE(bad("serving: {seen: {filter_events: bought}}").find("serving.seen.filter_events"),
            std::string::npos);
  EXPECT_EQ(bad("serving: {seen: {max_items: -2}}"), "serving.seen.max_items must not be negative");
  EXPECT_EQ(bad("serving: {user_state_mb: -1}"), "serving.user_state_mb must not be negative");
}

TEST(ServingOptionsFromConfigTest, SeenFilterKeys) {
  auto config = Config::FromYamlString(
      "serving: {seen: {filter_events: \"purchase,add_to_cart\", max_items: 50}}");
  ASSERT_TRUE(config.ok());
  auto o = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->service.recommender.filter_seen_events,
            SeenItem::EventBit(EventType::kPurchase) | SeenItem::EventBit(EventType::kAddToCart));
  EXPECT_EQ(o->service.history.seen_max_items, 50u);
  config = Config::FromYamlString("serving: {user_state_mb: 64}");
  ASSERT_TRUE(config.ok());
  o = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->service.history.max_bytes, size_t{64} << 20);
  config = Config::FromYamlString("serving: {user_embedding_cache: {max_entries: 0}}");
  ASSERT_TRUE(config.ok());
  o = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->service.embedding_cache.max_entries, 0u);
  config = Config::FromYamlString("serving: {seen: {filter_events: none}}");
  ASSERT_TRUE(config.ok());
  o = ServingOptionsFromConfig(*config);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->service.recommender.filter_seen_events, 0);
}

}  // namespace
}  // namespace streamrec::serving
