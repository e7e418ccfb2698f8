#include "state/state_db.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "state/counter_merge.h"
#include "state/encoding.h"
#include "state/stores.h"
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

TEST(CounterMergeTest, AddsElementWiseAndRejectsMalformed) {
  std::string out;
  const std::string a = EncodeCounter({1.5, 2.0});
  const std::string b = EncodeCounter(std::vector<double>{0.5});
  std::string_view av(a);
  ASSERT_TRUE(AddCounters(&av, b, &out));
  EXPECT_EQ(DecodeCounter(out), (std::vector<double>{2.0, 2.0}));
  ASSERT_TRUE(AddCounters(nullptr, b, &out));
  EXPECT_EQ(DecodeCounter(out), (std::vector<double>{0.5}));
  EXPECT_FALSE(AddCounters(&av, "abc", &out));
  std::string_view bad("1234567");
  EXPECT_FALSE(AddCounters(&bad, b, &out));
}

TEST(CounterMergeTest, AssociativeOverGroupings) {
  const std::string x = EncodeCounter(1.0), y = EncodeCounter(2.0), z = EncodeCounter(4.0);
  std::string xy, xy_z, yz, x_yz;
  std::string_view xv(x), yv(y);
  ASSERT_TRUE(AddCounters(&xv, y, &xy));
  std::string_view xyv(xy);
  ASSERT_TRUE(AddCounters(&xyv, z, &xy_z));
  ASSERT_TRUE(AddCounters(&yv, z, &yz));
  ASSERT_TRUE(AddCounters(&xv, yz, &x_yz));
  EXPECT_EQ(xy_z, x_yz);
  EXPECT_EQ(DecodeCounter(xy_z), (std::vector<double>{7.0}));
}

TEST(StateDbTest, MergeCountersPersistAcrossReopenAndFlush) {
  testing::TempDir dir;
  {
    auto db = StateDb::Open(Opts(dir.Sub("db")));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto pairs = (*db)->ColumnFamily("pairs");
    ASSERT_TRUE(pairs.ok());
    for (int i = 0; i < 100; ++i) {
      StateWriteBatch batch;
      batch.Merge(*pairs, Key64Pair(1, 2), EncodeCounter(1.0));
      batch.Merge(*pairs, Key64Pair(1, 3), EncodeCounter({2.0, 1.0}));
      ASSERT_TRUE((*db)->Write(&batch).ok());
      if (i == 50) {
        ASSERT_TRUE((*db)->Flush().ok());  // operands on both sides of an SST
      }
    }
    const StateDbStats stats = (*db)->Stats();
    EXPECT_GT(stats.user_bytes_written, 0u);
    EXPECT_GT(stats.wal_bytes_written, 0u);
    EXPECT_GT(stats.flush_bytes_written, 0u);
  }
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok());
  auto pairs = *(*db)->ColumnFamily("pairs");
  auto v = (*db)->Get(pairs, Key64Pair(1, 2));
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(DecodeCounter(**v), (std::vector<double>{100.0}));
  v = (*db)->Get(pairs, Key64Pair(1, 3));
  EXPECT_EQ(DecodeCounter(**v), (std::vector<double>{200.0, 100.0}));
  // Prefix scan over item 1's pairs, in neighbour order.
  auto it = (*db)->NewIterator(pairs, Key64(1));
  std::vector<uint64_t> neighbours;
  for (; it->Valid(); it->Next()) neighbours.push_back(DecodeBigEndian64(it->key().data() + 8));
  EXPECT_EQ(neighbours, (std::vector<uint64_t>{2, 3}));
}

TEST(StateDbTest, MalformedMergeOperandIsAnErrorNotACrash) {
  testing::TempDir dir;
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok());
  auto pairs = *(*db)->ColumnFamily("pairs");
  StateWriteBatch batch;
  batch.Merge(pairs, "k", EncodeCounter(1.0));
  batch.Merge(pairs, "k", "xyz");
  ASSERT_TRUE((*db)->Write(&batch).ok());
  auto v = (*db)->Get(pairs, "k");
  EXPECT_FALSE(v.ok());
}

TEST(StateDbTest, BatchIsAtomicAndCheckpointIsConsistent) {
  testing::TempDir dir;
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok());
  auto meta = *(*db)->ColumnFamily("meta");
  auto def = *(*db)->ColumnFamily("default");
  StateWriteBatch batch;
  batch.Put(meta, "a", "1");
  batch.Put(def, "b", "2");
  batch.Delete(meta, "zzz");
  EXPECT_EQ(batch.Count(), 3);
  ASSERT_TRUE((*db)->Write(&batch).ok());
  ASSERT_TRUE((*db)->Checkpoint(dir.Sub("ckpt")).ok());
  EXPECT_FALSE((*db)->Checkpoint(dir.Sub("ckpt")).ok()) << "target must not exist";
  StateDbOptions ro = Opts(dir.Sub("ckpt"));
  ro.read_only = true;
  auto copy = StateDb::Open(ro);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto v = (*copy)->Get(*(*copy)->ColumnFamily("meta"), "a");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "1");
  EXPECT_FALSE((*db)->ColumnFamily("nope").ok());
}

TEST(StateDbTest, ReadOnlyOpenOfMissingDbFails) {
  testing::TempDir dir;
  StateDbOptions o = Opts(dir.Sub("missing"));
  o.read_only = true;
  EXPECT_FALSE(StateDb::Open(o).ok());
}

TEST(StoresTest, OverlaySeesPendingWritesUntilCommitted) {
  testing::TempDir dir;
  auto db = StateDb::Open(Opts(dir.Sub("db")));
  ASSERT_TRUE(db.ok());
  StateWriteBatch batch;
  KeyValueStore kv("meta", db->get(), *(*db)->ColumnFamily("meta"), &batch);
  CounterStore counters("pairs", db->get(), *(*db)->ColumnFamily("pairs"), &batch);
  kv.Put("x", "1");
  counters.Add("c", 2.0);
  counters.Add("c", 3.0);
  EXPECT_EQ(**kv.Get("x"), "1");
  EXPECT_EQ(*counters.GetScalar("c"), 5.0);
  // Nothing is in the DB before the batch is written.
  EXPECT_FALSE((*db)->Get(*(*db)->ColumnFamily("meta"), "x")->has_value());
  EXPECT_EQ(batch.Count(), 0);
  kv.PrepareCommit();
  counters.PrepareCommit();
  EXPECT_EQ(batch.Count(), 2) << "the two Adds became one Merge";
  ASSERT_TRUE((*db)->Write(&batch).ok());
  batch.Clear();
  kv.OnCommitted();
  EXPECT_EQ(**(*db)->Get(*(*db)->ColumnFamily("meta"), "x"), "1");
  counters.OnCommitted();
  EXPECT_EQ(*counters.GetScalar("c"), 5.0);
  counters.Add("c", 1.0);
  kv.Delete("x");
  EXPECT_EQ(*counters.GetScalar("c"), 6.0);
  EXPECT_FALSE(kv.Get("x")->has_value());
  // Aborting drops the pending writes.
  batch.Clear();
  kv.OnAborted();
  counters.OnAborted();
  EXPECT_EQ(*counters.GetScalar("c"), 5.0);
  EXPECT_EQ(**kv.Get("x"), "1");
}

}  // namespace
}  // namespace streamrec::state
