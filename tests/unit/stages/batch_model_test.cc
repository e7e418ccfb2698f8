#include "stages/batch_model.h"

#include <cmath>

#include <gtest/gtest.h>

#include "core/file_system.h"
#include "tests/support/tiny_trainer.h"
#include "training/snapshot.h"

namespace streamrec::stages {
namespace {

batch::TrainingInput TinyInput(int n) {
  batch::TrainingInput in;
  for (int i = 0; i < n; ++i) {
    TrainingExample ex;
    ex.user_key = static_cast<uint64_t>(1000 + i % 7);
    ex.user_id = "u" + std::to_string(i % 7);
    ex.item_key = static_cast<uint64_t>(2000 + (i * 3) % 11);
    ex.item_id = "i" + std::to_string((i * 3) % 11);
    ex.ts_ms = 1732270000000 + i * 1000;
    if (i > 0) {
      ex.history_keys = {static_cast<uint64_t>(2000 + (i * 3 + 8) % 11)};
      ex.history_ts_ms = {ex.ts_ms - 1000};
    }
    in.examples.push_back(ex);
  }
  for (int k = 0; k < 11; ++k) {
    ItemStats s;
    s.item_key = static_cast<uint64_t>(2000 + k);
    s.item_id = "i" + std::to_string(k);
    s.sampling_prob = 1.0 / 11;
    in.item_stats.push_back(s);
  }
  return in;
}

class BatchModelTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = file_system::MakeTempDirectory("batch-model-").value(); }
  void TearDown() override { (void)file_system::RemoveAll(dir_); }
  std::string dir_;
};

TEST_F(BatchModelTest, TrainsEveryEpochAndWritesALoadableSnapshot) {
  BatchModelOptions o;
  o.trainer = testing::TinyTrainerOptions(/*model_dir=*/"");
  o.trainer.replay_steps = 3;  // ignored: epochs replace replay
  o.epochs = 3;
  int64_t last = 0, total = 0;
  auto r = TrainBatchModel(TinyInput(40), o, dir_ + "/model", {}, [&](int64_t d, int64_t t) {
    last = d;
    total = t;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(total, 120);
  EXPECT_EQ(last, 120);
  EXPECT_EQ(r->examples, 120);
  EXPECT_EQ(r->steps, 15);  // 120 examples in batches of 8, no replay steps
  EXPECT_EQ(r->num_items, 11);
  EXPECT_EQ(r->num_users, 7);
  EXPECT_TRUE(std::isfinite(r->final_loss));
  auto snapshot = training::ModelSnapshot::Load(dir_ + "/model");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
}

TEST_F(BatchModelTest, RefusesTooLittleAndStopsWhenAsked) {
  BatchModelOptions o;
  o.trainer = testing::TinyTrainerOptions("");
  EXPECT_EQ(TrainBatchModel(TinyInput(1), o, dir_ + "/a").status().code(), Status::Code::kInvalidArgument);
  o.epochs = 0;
  EXPECT_EQ(TrainBatchModel(TinyInput(40), o, dir_ + "/a").status().code(), Status::Code::kInvalidArgument);
  o.epochs = 2000;
  auto stopped = TrainBatchModel(TinyInput(40), o, dir_ + "/b", [] { return true; });
  EXPECT_EQ(stopped.status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(file_system::Exists(dir_ + "/b"));
}

}  // namespace
}  // namespace streamrec::stages
