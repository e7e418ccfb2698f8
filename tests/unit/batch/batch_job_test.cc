#include "batch/batch_job.h"

#include <gtest/gtest.h>

#include "core/file_system.h"
#include "operators/batch_view_store.h"

namespace streamrec::batch {
namespace {

ClickEvent Ev(uint64_t user, uint64_t item, int64_t ts) {
  ClickEvent e;
  e.user_id = "u" + std::to_string(user);
  e.item_id = "i" + std::to_string(item);
  e.user_key = user;
  e.item_key = item;
  e.ts_ms = ts;
  return e;
}

class BatchJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = file_system::MakeTempDirectory("batch-job-").value();
    for (int i = 0; i < 5000; ++i) {
      input_.events.push_back(Ev(static_cast<uint64_t>(i % 37), static_cast<uint64_t>((i * 7) % 101), 1000 * i));
    }
    input_.records = 5000;
    input_.source.path = "events.jsonl";
    input_.source.format = "jsonl";
    input_.source.lines = 5000;
    options_ = BatchJobOptions::FromConfig(Config()).value();
    options_.root = root_;
  }
  void TearDown() override { (void)file_system::RemoveAll(root_); }

  std::string root_;
  BatchInput input_;
  BatchJobOptions options_;
};

TEST_F(BatchJobTest, WritesAVersionEqualToTheRecomputation) {
  int64_t last_progress = 0;
  auto m = BuildBatchView(input_, options_, {}, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 5000);
    last_progress = done;
  });
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(last_progress, 5000);
  EXPECT_EQ(m->version, 1);
  EXPECT_EQ(m->events, 5000);
  EXPECT_EQ(m->items, 101);
  EXPECT_EQ(m->similarity, "cosine");
  EXPECT_EQ(m->top_k, 200);
  EXPECT_EQ(m->source.lines, 5000);
  EXPECT_TRUE(VerifyVersion(*m).ok());

  operators::BatchView read;
  ASSERT_TRUE(operators::ReadItemStateDb(m->dir + "/view", 0, 1, &read).ok());
  const operators::BatchView want =
      operators::ComputeBatchView(input_.events, options_.view.window, options_.view.cooc);
  EXPECT_EQ(read.pair_counts, want.pair_counts);
  EXPECT_EQ(read.item_counts, want.item_counts);
  EXPECT_EQ(read.item_occurrences, want.item_occurrences);
  EXPECT_EQ(static_cast<int64_t>(read.pair_counts.size()), m->pairs);

  // A rerun makes a fresh complete version beside it.
  auto again = BuildBatchView(input_, options_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 2);
  EXPECT_EQ(ListVersions(root_), (std::vector<int64_t>{1, 2}));
}

TEST_F(BatchJobTest, AStopLeavesNoVersionAndNoTemporaryDirectory) {
  int calls = 0;
  auto m = BuildBatchView(input_, options_, [&] { return ++calls > 1; });
  EXPECT_EQ(m.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(file_system::ListDirectory(root_).value(), std::vector<std::string>{});
  // Stopped while writing the store.
  calls = 0;
  m = BuildBatchView(input_, options_, [&] { return ++calls > 3; });
  EXPECT_EQ(m.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(file_system::ListDirectory(root_).value(), std::vector<std::string>{});
}

TEST_F(BatchJobTest, OptionsComeFromTheStagesConfigKeys) {
  Config c;
  ASSERT_TRUE(c.ApplyOverrides({"operators.similarity=lift", "operators.top_k=7", "operators.window.size=3",
                                "operators.popularity.half_life_s=0", "operators.estimator.alpha=0.5"})
                  .ok());
  auto o = BatchJobOptions::FromConfig(c);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->view.similarity, operators::Similarity::kLift);
  EXPECT_EQ(o->view.top_k, 7u);
  EXPECT_EQ(o->view.window.max_items, 3u);
  EXPECT_EQ(o->view.popularity_half_life_ms, 0);
  EXPECT_EQ(o->view.estimator.alpha, 0.5);
  ASSERT_TRUE(c.ApplyOverrides({"operators.similarity=nope"}).ok());
  EXPECT_FALSE(BatchJobOptions::FromConfig(c).ok());
  EXPECT_EQ(BuildBatchView(input_, BatchJobOptions{}).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace streamrec::batch
