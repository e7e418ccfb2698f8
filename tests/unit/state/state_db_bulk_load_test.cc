// StateDb::NewBulkLoader: sorted entries written into an SST file and ingested.
#include <filesystem>

#include <gtest/gtest.h>

#include "state/encoding.h"
#include "state/state_db.h"
#include "tests/unit/state/temp_dir.h"

namespace streamrec::state {
namespace {

StateDbOptions Opts(const std::string& path) {
  StateDbOptions o;
  o.path = path;
  o.column_families = {"pairs", "meta"};
  o.counter_column_families = {"pairs"};
  return o;
}

int SstLeftovers(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("bulk-load-", 0) == 0) ++n;
  }
  return n;
}

TEST(StateDbBulkLoadTest, EntriesAppearOnlyAfterFinishAndSurviveReopen) {
  testing::TempDir dir;
  {
    auto db = StateDb::Open(Opts(dir.Sub("db")));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    const ColumnFamilyId pairs = *(*db)->ColumnFamily("pairs");
    auto loader = (*db)->NewBulkLoader(pairs);
    ASSERT_TRUE(loader.ok()) << loader.status().ToString();
    for (uint64_t b = 1; b <= 1000; ++b) {
      ASSERT_TRUE((*loader)->Put(Key64Pair(7, b), EncodeCounter(static_cast<double>(b))).ok());
    }
    EXPECT_EQ((*loader)->entries(), 1000u);
    auto before = (*db)->Get(pairs, Key64Pair(7, 1));
    ASSERT_TRUE(before.ok());
    EXPECT_FALSE(before->has_value());  // not visible before Finish
    ASSERT_TRUE((*loader)->Finish().ok());
    EXPECT_EQ(SstLeftovers(dir.Sub("db")), 0);
    // A merge on an ingested value adds to it, as on any other counter.
    StateWriteBatch batch;
    batch.Merge(pairs, Key64Pair(7, 10), EncodeCounter(0.5));
    ASSERT_TRUE((*db)->Write(&batch).ok());
  }
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  const ColumnFamilyId pairs = *(*db)->ColumnFamily("pairs");
  auto v = (*db)->Get(pairs, Key64Pair(7, 10));
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(DecodeCounter(**v), (std::vector<double>{10.5}));
  int n = 0;
  for (auto it = (*db)->NewIterator(pairs, Key64(7)); it->Valid(); it->Next()) ++n;
  EXPECT_EQ(n, 1000);
}

TEST(StateDbBulkLoadTest, KeysOutOfOrderAreRefusedAndAnUnfinishedLoadLeavesNothing) {
  testing::TempDir dir;
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok());
  const ColumnFamilyId meta = *(*db)->ColumnFamily("meta");
  {
    auto loader = (*db)->NewBulkLoader(meta);
    ASSERT_TRUE(loader.ok());
    ASSERT_TRUE((*loader)->Put("b", "1").ok());
    const Status same = (*loader)->Put("b", "2");
    EXPECT_EQ(same.code(), Status::Code::kInvalidArgument) << same.ToString();
    const Status lower = (*loader)->Put("a", "3");
    EXPECT_EQ(lower.code(), Status::Code::kInvalidArgument) << lower.ToString();
    EXPECT_NE(lower.message().find("ascending"), std::string::npos) << lower.ToString();
  }  // destroyed without Finish
  EXPECT_EQ(SstLeftovers(dir.Sub("db")), 0);
  auto v = (*db)->Get(meta, "b");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());
}

TEST(StateDbBulkLoadTest, AnEmptyLoadFinishesAndAReadOnlyStoreRefuses) {
  testing::TempDir dir;
  {
    auto db = StateDb::Open(Opts(dir.Sub("db")));
    ASSERT_TRUE(db.ok());
    auto loader = (*db)->NewBulkLoader(*(*db)->ColumnFamily("meta"));
    ASSERT_TRUE(loader.ok());
    EXPECT_TRUE((*loader)->Finish().ok());
    EXPECT_EQ(SstLeftovers(dir.Sub("db")), 0);
    EXPECT_EQ((*db)->NewBulkLoader(12345).status().code(), Status::Code::kInvalidArgument);
  }
  StateDbOptions ro = Opts(dir.Sub("db"));
  ro.read_only = true;
  auto db = StateDb::Open(ro);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->NewBulkLoader(*(*db)->ColumnFamily("meta")).status().code(),
            Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace streamrec::state
