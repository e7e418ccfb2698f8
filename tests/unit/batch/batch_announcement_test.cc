#include "batch/batch_announcement.h"

#include <fstream>

#include <gtest/gtest.h>

#include "core/file_system.h"

namespace streamrec::batch {
namespace {

TEST(BatchAnnouncementTest, JsonRoundTripOfBothSources) {
  BatchAnnouncement a;
  a.view = "items";
  a.version = 7;
  a.path = "/views/batch-v000007";
  a.created_ms = 1732270000123;
  a.topic = "clicks";
  a.cutoff = {{0, 0, 120}, {1, 3, 97}};
  a.events = 210;
  a.max_event_ts_ms = 1732270009999;
  a.manifest_xxh3 = "0011223344556677";
  auto back = BatchAnnouncement::FromJson(a.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), a.ToJson());
  EXPECT_EQ(back->cutoff[1].end, 97);
  EXPECT_NE(a.ToJson().find(R"("cutoff":[{"partition":0,"start":0,"end":120})"), std::string::npos) << a.ToJson();

  BatchAnnouncement f = a;
  f.source = "file";
  f.topic.clear();
  f.cutoff.clear();
  f.file = "/data/u.data";
  f.lines = 100000;
  auto fb = BatchAnnouncement::FromJson(f.ToJson());
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  EXPECT_EQ(fb->ToJson(), f.ToJson());
  EXPECT_EQ(f.ToJson().find("cutoff"), std::string::npos);

  EXPECT_FALSE(BatchAnnouncement::FromJson("[]").ok());
  EXPECT_FALSE(BatchAnnouncement::FromJson(R"({"view":"items","version":1})").ok());
  std::string no_cutoff = a.ToJson();
  no_cutoff.replace(no_cutoff.find("\"cutoff\""), 8, "\"cutofX\"");
  EXPECT_FALSE(BatchAnnouncement::FromJson(no_cutoff).ok());
}

TEST(BatchAnnouncementTest, FromACommittedVersion) {
  const std::string root = file_system::MakeTempDirectory("batch-announce-").value();
  auto b = VersionBuilder::Begin(root);
  ASSERT_TRUE(b.ok());
  BatchManifest m;
  m.source.kind = BatchSource::Kind::kTopic;
  m.source.topic = "clicks";
  m.source.partitions = {{0, 0, 5}};
  m.events = 5;
  m.max_event_ts_ms = 99;
  auto committed = (*b)->Commit(m);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  auto a = BatchAnnouncement::FromManifest(*committed);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->view, "items");
  EXPECT_EQ(a->version, 1);
  EXPECT_EQ(a->path[0], '/');
  EXPECT_EQ(a->path, committed->dir);
  EXPECT_EQ(a->cutoff.size(), 1u);
  EXPECT_EQ(a->cutoff[0].end, 5);
  EXPECT_EQ(a->manifest_xxh3, FileChecksum(committed->dir + "/manifest.json").value());
  (void)file_system::RemoveAll(root);
  EXPECT_EQ(BatchAnnouncement::FromManifest(*committed).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace streamrec::batch
