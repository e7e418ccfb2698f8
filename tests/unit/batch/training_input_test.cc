#include "batch/training_input.h"

#include <fstream>

#include <gtest/gtest.h>

#include "core/file_system.h"

namespace streamrec::batch {
namespace {

TEST(TrainingInputTest, RoundTripAndCorruption) {
  const std::string dir = file_system::MakeTempDirectory("training-input-").value();
  const std::string path = dir + "/in.bin";
  TrainingExample ex;
  ex.user_key = 1;
  ex.user_id = "u1";
  ex.item_key = 2;
  ex.item_id = "i2";
  ex.weight = 3;
  ex.ts_ms = 1732270000123;
  ex.history_keys = {5, 6};
  ex.history_ts_ms = {1732270000001, 1732270000002};
  ItemStats s;
  s.item_key = 2;
  s.item_id = "i2";
  s.sampling_prob = 0.25;
  {
    auto w = TrainingInputWriter::Create(path);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->AddExample(ex).ok());
    ex.item_key = 7;
    ASSERT_TRUE((*w)->AddExample(ex).ok());
    ASSERT_TRUE((*w)->AddItemStats(s).ok());
    EXPECT_EQ((*w)->examples(), 2);
    ASSERT_TRUE((*w)->Close().ok());
  }
  EXPECT_FALSE(TrainingInputWriter::Create(path).ok()) << "an existing file is not overwritten";
  auto in = ReadTrainingInput(path);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->examples.size(), 2u);
  EXPECT_EQ(in->examples[1], ex);
  EXPECT_EQ(in->examples[0].item_key, 2u);
  ASSERT_EQ(in->item_stats.size(), 1u);
  EXPECT_EQ(in->item_stats[0], s);

  // Truncated: the last record loses a byte.
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes.substr(0, bytes.size() - 1);
  }
  EXPECT_EQ(ReadTrainingInput(path).status().code(), Status::Code::kCorruption);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "something else";
  }
  EXPECT_EQ(ReadTrainingInput(path).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(ReadTrainingInput(dir + "/missing").status().code(), Status::Code::kNotFound);
  (void)file_system::RemoveAll(dir);
}

}  // namespace
}  // namespace streamrec::batch
