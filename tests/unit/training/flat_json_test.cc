#include "training/flat_json.h"

#include <gtest/gtest.h>

#include "training/snapshot.h"

namespace streamrec::training {
namespace {

TEST(FlatJsonTest, RoundTrip) {
  FlatJson j;
  j.SetString("path", "/tmp/a \"b\"\\c");
  j.SetInt("version", 7);
  j.SetDouble("loss", 0.25);
  j.SetBool("ok", true);
  auto parsed = FlatJson::Parse(j.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed->GetString("path"), "/tmp/a \"b\"\\c");
  EXPECT_EQ(*parsed->GetInt("version"), 7);
  EXPECT_EQ(*parsed->GetDouble("loss"), 0.25);
  EXPECT_TRUE(*parsed->GetBool("ok"));
  EXPECT_FALSE(parsed->GetInt("loss").ok());
  EXPECT_EQ(parsed->GetInt("missing").status().code(), Status::Code::kNotFound);
}

TEST(FlatJsonTest, RejectsMalformedAndNested) {
  EXPECT_FALSE(FlatJson::Parse("").ok());
  EXPECT_FALSE(FlatJson::Parse("{\"a\":1").ok());
  EXPECT_FALSE(FlatJson::Parse("{\"a\":{\"b\":1}}").ok());
  EXPECT_FALSE(FlatJson::Parse("{\"a\":1} x").ok());
  EXPECT_FALSE(FlatJson::Parse("{\"a\":nan}").ok());
  EXPECT_TRUE(FlatJson::Parse(" { } ").ok());
}

TEST(FlatJsonTest, ModelAnnouncementRoundTrip) {
  ModelAnnouncement a;
  a.version = 12;
  a.path = "/models/v0000000012";
  a.step = 3400;
  a.watermark_ms = 1732270000123;
  a.created_ms = 1732270005000;
  a.num_items = 1650;
  a.dim = 64;
  a.checksum = "0123456789abcdef";
  auto b = ModelAnnouncement::FromJson(a.ToJson());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->component, "two_tower");
  EXPECT_EQ(b->version, 12);
  EXPECT_EQ(b->path, a.path);
  EXPECT_EQ(b->step, 3400);
  EXPECT_EQ(b->watermark_ms, 1732270000123);
  EXPECT_EQ(b->num_items, 1650);
  EXPECT_EQ(b->dim, 64);
  EXPECT_EQ(b->checksum, a.checksum);
  EXPECT_FALSE(ModelAnnouncement::FromJson("{\"version\":1}").ok());
}

}  // namespace
}  // namespace streamrec::training
