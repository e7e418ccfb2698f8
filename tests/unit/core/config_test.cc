#include "core/config.h"
#include "core/config_overrides.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace streamrec {
namespace {

TEST(ConfigTest, ReadsNestedKeysWithDefaults) {
  auto cfg = Config::FromYamlString(
      "operators:\n  window:\n    size: 20\n    seconds: 3600.5\n  decay: true\nname: demo\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(*cfg->GetInt("operators.window.size", 5), 20);
  EXPECT_DOUBLE_EQ(*cfg->GetDouble("operators.window.seconds", 1), 3600.5);
  EXPECT_TRUE(*cfg->GetBool("operators.decay", false));
  EXPECT_EQ(*cfg->GetString("name", "x"), "demo");
  EXPECT_EQ(*cfg->GetInt("operators.window.missing", 42), 42);
  EXPECT_EQ(*cfg->GetString("nothing.here", "def"), "def");
}

TEST(ConfigTest, WrongTypeIsAnErrorNamingTheKey) {
  auto cfg = Config::FromYamlString("a:\n  b: hello\n  m: {x: 1}\n");
  ASSERT_TRUE(cfg.ok());
  auto v = cfg->GetInt("a.b", 0);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("a.b"), std::string::npos);
  EXPECT_NE(v.status().message().find("hello"), std::string::npos);
  EXPECT_FALSE(cfg->GetString("a.m", "").ok());
}

TEST(ConfigTest, OverridesCreateAndReplaceKeys) {
  auto cfg = Config::FromYamlString("a:\n  b: 1\n");
  ASSERT_TRUE(cfg.ok());
  ASSERT_TRUE(cfg->ApplyOverrides({"a.b=7", "x.y.z=true", "s=hello=world"}).ok());
  EXPECT_EQ(*cfg->GetInt("a.b", 0), 7);
  EXPECT_TRUE(*cfg->GetBool("x.y.z", false));
  EXPECT_EQ(*cfg->GetString("s", ""), "hello=world");
}

// --set-file: a secret from a mounted file, kept verbatim (YAML-looking text stays a
// string) but for its trailing line breaks; the error names the path, never the content.
TEST(ConfigTest, FileOverridesSetTheFilesContent) {
  const std::string path = ::testing::TempDir() + "config_test_secret";
  {
    std::ofstream out(path, std::ios::binary);
    out << "p@ss: #word\r\n\n";
  }
  auto cfg = Config::FromYamlString("kafka:\n  sasl.mechanism: PLAIN\n");
  ASSERT_TRUE(cfg.ok());
  ASSERT_TRUE(ApplyFileOverrides(&*cfg, {"kafka.sasl.password=" + path}).ok());
  auto props = cfg->Flatten("kafka");
  EXPECT_EQ(props["sasl.password"], "p@ss: #word");
  EXPECT_EQ(props["sasl.mechanism"], "PLAIN");
  std::remove(path.c_str());

  const Status missing = ApplyFileOverrides(&*cfg, {"kafka.sasl.password=" + path});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find(path), std::string::npos);
  EXPECT_NE(missing.message().find("kafka.sasl.password"), std::string::npos);
  EXPECT_FALSE(ApplyFileOverrides(&*cfg, {"nopath"}).ok());
  EXPECT_FALSE(ApplyFileOverrides(&*cfg, {"a.b="}).ok());
  EXPECT_FALSE(ApplyFileOverrides(&*cfg, {"=/etc/hostname"}).ok());
}

TEST(ConfigTest, MalformedOverridesAreRejected) {
  Config cfg;
  EXPECT_FALSE(cfg.ApplyOverrides({"novalue"}).ok());
  EXPECT_FALSE(cfg.ApplyOverrides({"=v"}).ok());
  EXPECT_FALSE(cfg.ApplyOverrides({"a..b=1"}).ok());
  ASSERT_TRUE(cfg.Set("a", "1").ok());
  EXPECT_FALSE(cfg.Set("a.b", "2").ok());  // "a" is a scalar, not a mapping
}

TEST(ConfigTest, FlattensKafkaPropertiesVerbatim) {
  auto cfg = Config::FromYamlString(
      "kafka:\n  security.protocol: SASL_SSL\n  sasl:\n    mechanism: PLAIN\n"
      "  linger.ms: 5\n");
  ASSERT_TRUE(cfg.ok());
  auto props = cfg->Flatten("kafka");
  ASSERT_EQ(props.size(), 3u);
  EXPECT_EQ(props["security.protocol"], "SASL_SSL");
  EXPECT_EQ(props["sasl.mechanism"], "PLAIN");
  EXPECT_EQ(props["linger.ms"], "5");
  // Dotted keys inside a mapping are found by a dotted lookup too.
  EXPECT_EQ(*cfg->GetString("kafka.security.protocol", ""), "SASL_SSL");
}

TEST(ConfigTest, BadYamlAndMissingFile) {
  EXPECT_FALSE(Config::FromYamlString("a: [1, 2").ok());
  EXPECT_FALSE(Config::FromYamlString("- 1\n- 2\n").ok());
  auto missing = Config::FromFile("/nonexistent/streamrec.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

TEST(ConfigTest, LoadsFromFile) {
  const std::string path = ::testing::TempDir() + "/streamrec_config_test.yaml";
  {
    std::ofstream out(path);
    out << "trainer:\n  batch_size: 1024\n";
  }
  auto cfg = Config::FromFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(*cfg->GetInt("trainer.batch_size", 0), 1024);
}

}  // namespace
}  // namespace streamrec
