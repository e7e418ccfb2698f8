#include "streams/topics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "streams/kafka_properties.h"

namespace streamrec {
namespace {

TEST(Topics, DefaultsAreTheDesignNames) {
  TopicNames n;
  EXPECT_EQ(n.clicks, "clicks");
  EXPECT_EQ(n.clicks_dlq, "clicks.dlq");
  EXPECT_EQ(n.items, "items");
  EXPECT_EQ(n.rec_requests, "rec-requests");
  EXPECT_EQ(n.recommendations, "recommendations");
  EXPECT_EQ(n.cooc_deltas, "streamrec.cooc-deltas");
  EXPECT_EQ(n.training_examples, "streamrec.training-examples");
  EXPECT_EQ(n.item_neighbors, "streamrec.item-neighbors");
  EXPECT_EQ(n.item_stats, "streamrec.item-stats");
  EXPECT_EQ(n.models, "streamrec.models");
  EXPECT_EQ(n.batch_views, "streamrec.batch");
  EXPECT_EQ(n.ranker_examples, "streamrec.ranker-examples");
}

TEST(Topics, SpecsCompactTheTablesOnly) {
  TopicNames n;
  auto specs = DefaultTopicSpecs(n, 6);
  ASSERT_EQ(specs.size(), 15u);
  int compacted = 0;
  for (const auto& s : specs) {
    EXPECT_EQ(s.compacted, IsCompactedTopic(n, s.name)) << s.name;
    compacted += s.compacted;
    EXPECT_EQ(s.partitions, s.name == "streamrec.models" || s.name == "streamrec.batch" || s.name == "streamrec.serving-members" ? 1 : 6) << s.name;
  }
  EXPECT_EQ(compacted, 8);
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.serving-members"));
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.user-changelog"));
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.item-changelog"));
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.batch"));
  EXPECT_TRUE(IsCompactedTopic(n, "items"));
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.item-neighbors"));
  EXPECT_TRUE(IsCompactedTopic(n, "streamrec.item-stats"));
  EXPECT_FALSE(IsCompactedTopic(n, "clicks"));
  EXPECT_FALSE(IsCompactedTopic(n, "streamrec.ranker-examples"));
}

TEST(Topics, NamesComeFromConfig) {
  auto config = Config::FromYamlString("topics:\n  clicks: my-clicks\n  models: m\n");
  ASSERT_TRUE(config.ok());
  auto n = TopicNames::FromConfig(*config);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->clicks, "my-clicks");
  EXPECT_EQ(n->models, "m");
  EXPECT_EQ(n->items, "items");
  auto empty = Config::FromYamlString("topics:\n  items: \"\"\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(TopicNames::FromConfig(*empty).status().code(), Status::Code::kInvalidArgument);
}

TEST(KafkaProperties, PassThroughFromConfigAndBrokerResolution) {
  auto config = Config::FromYamlString(
      "kafka:\n  bootstrap.servers: k1:9092\n  security.protocol: SASL_SSL\n  sasl:\n    "
      "mechanism: PLAIN\n");
  ASSERT_TRUE(config.ok());
  KafkaProperties p = KafkaPropertiesFromConfig(*config);
  EXPECT_EQ(p.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(p.at("sasl.mechanism"), "PLAIN");
  EXPECT_EQ(ResolveBrokers(*config, ""), "k1:9092");
  EXPECT_EQ(ResolveBrokers(*config, "flag:1"), "flag:1");
  EXPECT_EQ(ResolveBrokers(Config(), ""), "");
}

TEST(KafkaProperties, BootstrapFileRoundTripAndErrors) {
  char tmpl[] = "/tmp/streamrec-bootstrap-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/bootstrap";
  ASSERT_TRUE(WriteBootstrapFile(path, "127.0.0.1:41234").ok());
  EXPECT_EQ(ReadBootstrapFile(path).value(), "127.0.0.1:41234");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(ReadBootstrapFile(dir + "/missing").status().code(), Status::Code::kIoError);
  std::ofstream(dir + "/empty") << "\n";
  EXPECT_EQ(ReadBootstrapFile(dir + "/empty").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(WriteBootstrapFile(dir + "/no/such/dir/f", "x").code(), Status::Code::kIoError);
  std::filesystem::remove_all(dir);
}

TEST(KafkaProperties, RequireBrokersPrefersFlagThenConfigThenFile) {
  char tmpl[] = "/tmp/streamrec-bootstrap-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/bootstrap";
  ASSERT_TRUE(WriteBootstrapFile(path, "127.0.0.1:5555").ok());
  auto config = Config::FromYamlString("kafka:\n  bootstrap.servers: k1:9092\n");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(RequireBrokers(*config, "flag:1", path).value(), "flag:1");
  EXPECT_EQ(RequireBrokers(*config, "", path).value(), "k1:9092");
  EXPECT_EQ(RequireBrokers(Config(), "", path).value(), "127.0.0.1:5555");
  auto none = RequireBrokers(Config(), "", "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--bootstrap-file"), std::string::npos);
  EXPECT_EQ(RequireBrokers(Config(), "", dir + "/missing").status().code(), Status::Code::kIoError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace streamrec
