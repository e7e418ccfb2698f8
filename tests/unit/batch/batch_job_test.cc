#include "batch/batch_job.h"

#include <fstream>

#include <gtest/gtest.h>

#include "batch/training_input.h"
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

TEST_F(BatchJobTest, TrainsTheModelOnTheUserStagesExamplesBeforeTheCommit) {
  std::string seen_input;
  ModelTrainerFn train = [&](const std::string& training_input,
                             const std::string& model_dir) -> Result<BatchModelSummary> {
    seen_input = training_input;
    auto in = ReadTrainingInput(training_input);
    if (!in.ok()) return in.status();
    EXPECT_EQ(in->examples.size(), 5000u);
    EXPECT_EQ(in->item_stats.size(), 101u);
    // Event 37 * 25 + 3 is user 3's 26th: its window holds the 20 items before it, the
    // newest last (the user stage's example).
    const TrainingExample& ex = in->examples[37 * 25 + 3];
    EXPECT_EQ(ex.user_key, 3u);
    EXPECT_EQ(ex.item_key, static_cast<uint64_t>(((37 * 25 + 3) * 7) % 101));
    EXPECT_EQ(ex.history_keys.size(), 20u);
    EXPECT_EQ(ex.history_keys.back(), static_cast<uint64_t>(((37 * 24 + 3) * 7) % 101));
    EXPECT_EQ(ex.history_ts_ms.back(), 1000 * (37 * 24 + 3));
    EXPECT_TRUE(in->examples[3].history_keys.empty());
    for (const ItemStats& s : in->item_stats) {
      EXPECT_GT(s.sampling_prob, 0.0) << s.item_id;
      EXPECT_FALSE(s.item_id.empty());
    }
    if (!file_system::CreateDirectories(model_dir).ok()) return Status::IoError("mkdir");
    std::ofstream(model_dir + "/params.bin") << "weights";
    BatchModelSummary s;
    s.epochs = 2;
    s.examples = 10000;
    s.steps = 10;
    s.final_loss = 1.25;
    return s;
  };
  auto m = BuildBatchView(input_, options_, {}, {}, train);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(seen_input.empty());
  EXPECT_FALSE(file_system::Exists(m->dir + "/" + kTrainingInputFileName));
  ASSERT_TRUE(m->has_model);
  EXPECT_EQ(m->model.dir, "model");
  EXPECT_EQ(m->model.steps, 10);
  EXPECT_EQ(m->model.final_loss, 1.25);
  auto read = ReadManifest(m->dir);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->has_model);
  EXPECT_EQ(read->model.examples, 10000);
  bool listed = false;
  for (const ManifestFile& f : read->files) listed = listed || f.path == "model/params.bin";
  EXPECT_TRUE(listed) << "the model's files are checksummed with the view's";
  EXPECT_TRUE(VerifyVersion(*read).ok());

  // A model that fails leaves no version.
  auto failed = BuildBatchView(input_, options_, {}, {}, [](const std::string&, const std::string&) {
    return Result<BatchModelSummary>(Status::Internal("no luck"));
  });
  EXPECT_EQ(failed.status().code(), Status::Code::kInternal);
  EXPECT_EQ(ListVersions(root_), std::vector<int64_t>{1});
  EXPECT_EQ(file_system::ListDirectory(root_).value(), std::vector<std::string>{"batch-v000001"});
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
