#include "batch/batch_manifest.h"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "core/file_system.h"

namespace streamrec::batch {
namespace {

class BatchManifestTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = file_system::MakeTempDirectory("batch-manifest-").value(); }
  void TearDown() override { (void)file_system::RemoveAll(root_); }

  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  std::string root_;
};

BatchManifest TopicManifest() {
  BatchManifest m;
  m.view = "items";
  m.version = 3;
  m.created_ms = 1732270000123;
  m.build_seconds = 1.5;
  m.source.kind = BatchSource::Kind::kTopic;
  m.source.topic = "clicks";
  m.source.partitions = {{0, 0, 120}, {1, 7, 97}};
  m.records = 217;
  m.events = 210;
  m.rejected = 7;
  m.items = 40;
  m.pairs = 900;
  m.neighbor_lists = 38;
  m.total_weight = 250.5;
  m.max_event_ts_ms = 1732270009999;
  m.similarity = "cosine";
  m.top_k = 200;
  m.window_size = 20;
  m.window_horizon_ms = 3600000;
  m.cooc_half_life_s = 0;
  m.popularity_half_life_ms = 604800000;
  m.estimator_array_size = 32768;
  m.estimator_hashes = 2;
  m.estimator_alpha = 0.01;
  m.files = {{"view/000012.sst", 1234, "00112233445566ff"}};
  m.has_model = true;
  m.model.epochs = 5;
  m.model.examples = 1050;
  m.model.steps = 9;
  m.model.final_loss = 3.5;
  m.model.num_items = 40;
  m.model.num_users = 12;
  m.model.train_seconds = 2.5;
  return m;
}

TEST_F(BatchManifestTest, JsonRoundTrip) {
  const BatchManifest m = TopicManifest();
  auto back = BatchManifest::FromJson(m.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), m.ToJson());
  EXPECT_EQ(back->source.partitions[1].start, 7);
  EXPECT_EQ(back->source.partitions[1].end, 97);
  EXPECT_EQ(back->files[0].bytes, 1234u);
  EXPECT_TRUE(back->has_model);
  EXPECT_EQ(back->model.num_users, 12);
  auto summary = ModelSummaryFromJson(ModelSummaryToJson(m.model));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->steps, 9);
  EXPECT_FALSE(ModelSummaryFromJson(R"({"dir":"../x"})").ok());

  BatchManifest f = m;
  f.has_model = false;
  f.source = BatchSource{};
  f.source.path = "/data/u.data";
  f.source.format = "movielens";
  f.source.lines = 100000;
  auto file_back = BatchManifest::FromJson(f.ToJson());
  ASSERT_TRUE(file_back.ok()) << file_back.status().ToString();
  EXPECT_EQ(file_back->source.kind, BatchSource::Kind::kFile);
  EXPECT_EQ(file_back->source.lines, 100000);
  EXPECT_FALSE(file_back->has_model);
  EXPECT_NE(f.ToJson().find("\"model\":null"), std::string::npos);
}

TEST_F(BatchManifestTest, RejectsBadManifests) {
  EXPECT_FALSE(BatchManifest::FromJson("not json").ok());
  EXPECT_FALSE(BatchManifest::FromJson("{\"format\":2}").ok());
  std::string json = TopicManifest().ToJson();
  json.replace(json.find("view/000012.sst"), 15, "../../etc/passw");
  EXPECT_EQ(BatchManifest::FromJson(json).status().code(), Status::Code::kCorruption);
}

TEST_F(BatchManifestTest, VersionsAreNumberedCompleteAndChecked) {
  EXPECT_TRUE(ListVersions(root_).empty());
  EXPECT_EQ(LatestVersion(root_).status().code(), Status::Code::kNotFound);
  for (int64_t want = 1; want <= 2; ++want) {
    auto b = VersionBuilder::Begin(root_);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_TRUE(file_system::CreateDirectories((*b)->dir() + "/view").ok());
    WriteFile((*b)->dir() + "/view/data", "version " + std::to_string(want));
    auto m = (*b)->Commit(TopicManifest());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->version, want);
    EXPECT_EQ(m->dir, root_ + "/" + VersionDirName(want));
    ASSERT_EQ(m->files.size(), 1u);
    EXPECT_EQ(m->files[0].path, "view/data");
    EXPECT_EQ(m->files[0].bytes, 9u);
  }
  EXPECT_EQ(ListVersions(root_), (std::vector<int64_t>{1, 2}));
  auto latest = LatestVersion(root_);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->dir, root_ + "/batch-v000002");
  EXPECT_TRUE(VerifyVersion(*latest).ok());
  // A flipped byte, then a missing file.
  WriteFile(root_ + "/batch-v000002/view/data", "version 3");
  EXPECT_EQ(VerifyVersion(*latest).code(), Status::Code::kCorruption);
  ASSERT_TRUE(file_system::RemoveAll(root_ + "/batch-v000002/view/data").ok());
  EXPECT_EQ(VerifyVersion(*latest).code(), Status::Code::kCorruption);
}

TEST_F(BatchManifestTest, AnAbandonedBuildLeavesNothingAndStaleTempsGo) {
  {
    auto b = VersionBuilder::Begin(root_);
    ASSERT_TRUE(b.ok());
    WriteFile((*b)->dir() + "/half", "x");
  }  // not committed
  EXPECT_EQ(file_system::ListDirectory(root_).value(), std::vector<std::string>{});
  // A temporary directory of a process that is gone (pid 2^22 + 1 is above pid_max's
  // default ceiling) and one of a live process (ours).
  const std::string dead = root_ + "/.batch-tmp.4194305.0";
  const std::string live = root_ + "/.batch-tmp." + std::to_string(::getpid()) + ".77";
  ASSERT_TRUE(file_system::CreateDirectories(dead).ok());
  ASSERT_TRUE(file_system::CreateDirectories(live).ok());
  auto b = VersionBuilder::Begin(root_);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(file_system::Exists(dead));
  EXPECT_TRUE(file_system::Exists(live));
  EXPECT_TRUE(ListVersions(root_).empty());
}

TEST_F(BatchManifestTest, ChecksumIsXxh3OfTheBytes) {
  WriteFile(root_ + "/empty", "");
  // XXH3-64 of no bytes, seed 0.
  EXPECT_EQ(FileChecksum(root_ + "/empty").value(), "2d06800538d394c2");
  EXPECT_FALSE(FileChecksum(root_ + "/missing").ok());
}

}  // namespace
}  // namespace streamrec::batch
