#include "batch/batch_input.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "core/file_system.h"

namespace streamrec::batch {
namespace {

ClickEvent Ev(const std::string& user, const std::string& item, int64_t ts) {
  ClickEvent e;
  e.user_id = user;
  e.item_id = item;
  e.ts_ms = ts;
  return e;
}

std::vector<std::string> Items(const std::vector<ClickEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.item_id);
  return out;
}

TEST(MergeByTimeTest, KeepsEachPartitionsOrderAndInterleavesByTime) {
  // Partition 0 has an event out of time order (c before b): it must stay after a.
  std::vector<std::vector<ClickEvent>> parts = {
      {Ev("u", "a", 10), Ev("u", "c", 30), Ev("u", "b", 20)},
      {Ev("v", "x", 5), Ev("v", "y", 25)},
      {},
      {Ev("w", "z", 30)}};
  const std::vector<ClickEvent> merged = MergeByTime(parts);
  EXPECT_EQ(Items(merged), (std::vector<std::string>{"x", "a", "y", "c", "b", "z"}));
  EXPECT_TRUE(MergeByTime({}).empty());
}

TEST(ReadFileInputTest, SortsByTimeAndCountsLinesAndBadOnes) {
  auto dir = file_system::MakeTempDirectory("batch-input-").value();
  const std::string path = dir + "/u.data";
  {
    std::ofstream f(path);
    f << "1\t10\t5\t900000000\n2\t11\t4\t800000000\nnot a line\n1\t12\t3\t900000000\n";
  }
  HistoryReaderOptions o;
  o.format = HistoryFormat::kMovieLens;
  EXPECT_FALSE(ReadFileInput(path, o, /*skip_bad=*/false).ok());
  auto in = ReadFileInput(path, o, /*skip_bad=*/true);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(Items(in->events), (std::vector<std::string>{"11", "10", "12"}));  // stable by time
  EXPECT_EQ(in->source.kind, BatchSource::Kind::kFile);
  EXPECT_EQ(in->source.path, path);
  EXPECT_EQ(in->source.format, "movielens");
  EXPECT_EQ(in->source.lines, 4);
  EXPECT_EQ(in->records, 4);
  EXPECT_EQ(in->rejected, 1);
  (void)file_system::RemoveAll(dir);
}

}  // namespace
}  // namespace streamrec::batch
