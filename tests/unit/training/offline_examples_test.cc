#include "training/offline_examples.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/file_system.h"
#include "core/id_hash.h"
#include "training/snapshot.h"
#include "training/trainer.h"

namespace streamrec::training {
namespace {

namespace fs = streamrec::file_system;

class OfflineExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/offline_examples_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(dir_).ok()); }
  std::string dir_;
};

// Users in four clusters, each clicking its own 5 items, histories of the last 5 clicks.
std::vector<OfflineExample> Stream(int n) {
  std::vector<OfflineExample> out;
  std::vector<std::vector<int>> history(40);
  for (int i = 0; i < n; ++i) {
    const int user = (i * 7) % 40;
    const int item = (user % 4) * 5 + (i * 3) % 5;
    OfflineExample e;
    e.example.user_id = "u" + std::to_string(user);
    e.example.user_key = HashId(e.example.user_id);
    e.example.item_id = "i" + std::to_string(item);
    e.example.item_key = HashId(e.example.item_id);
    e.example.ts_ms = 1000 * i;
    e.example.weight = i % 3 == 0 ? 2.0f : 1.0f;
    for (size_t h = 0; h < history[user].size(); ++h) {
      e.example.history_keys.push_back(HashId("i" + std::to_string(history[user][h])));
      e.example.history_ts_ms.push_back(e.example.ts_ms - 10 + static_cast<int64_t>(h));
    }
    history[user].push_back(item);
    if (history[user].size() > 5) history[user].erase(history[user].begin());
    e.sampling_prob = i % 5 == 0 ? 0.0 : 1.0 / (3 + i % 17);  // 0: unknown p̂
    out.push_back(std::move(e));
  }
  return out;
}

TrainerOptions TinyOptions(const std::string& model_dir) {
  TrainerOptions o;
  o.model.embedding_dim = 8;
  o.model.hidden_dim = 16;
  o.model.output_dim = 8;
  o.model.user_capacity = 64;
  o.model.item_capacity = 64;
  o.batch_size = 16;
  o.learning_rate = 0.01;
  o.device = "cpu";
  o.model_dir = model_dir;
  o.resume = false;
  o.snapshot_every_steps = 0;
  o.snapshot_every_seconds = 0;
  return o;
}

TEST_F(OfflineExamplesTest, FileRoundTripsEveryFieldAndProbability) {
  const auto examples = Stream(50);
  const std::string path = dir_ + "/examples.bin";
  ASSERT_TRUE(WriteExampleFile(path, examples).ok());
  EXPECT_FALSE(fs::Exists(path + ".tmp"));
  auto read = ReadExampleFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    EXPECT_EQ((*read)[i].example, examples[i].example) << i;
    EXPECT_EQ((*read)[i].sampling_prob, examples[i].sampling_prob) << i;
  }
  ASSERT_TRUE(WriteExampleFile(path, {}).ok());
  auto empty = ReadExampleFile(path);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(OfflineExamplesTest, ReadRejectsMissingForeignAndTruncatedFiles) {
  EXPECT_EQ(ReadExampleFile(dir_ + "/none.bin").status().code(), Status::Code::kIoError);

  const std::string foreign = dir_ + "/foreign.bin";
  std::ofstream(foreign) << "user\titem\t5\t881250949\n";
  EXPECT_EQ(ReadExampleFile(foreign).status().code(), Status::Code::kCorruption);

  const std::string path = dir_ + "/examples.bin";
  ASSERT_TRUE(WriteExampleFile(path, Stream(3)).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {bytes.size() - 1, bytes.size() - 8, bytes.size() - 9}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
    auto read = ReadExampleFile(path);
    ASSERT_FALSE(read.ok()) << cut;
    EXPECT_EQ(read.status().code(), Status::Code::kCorruption) << cut;
    EXPECT_NE(read.status().message().find("example 2"), std::string::npos)
        << read.status().ToString();
  }
}

// A model trained on the examples read back from a file is the model trained on the
// examples in memory: every field and p̂ survive (the GPU golden figure rests on this).
TEST_F(OfflineExamplesTest, TrainingFromTheFileEqualsTrainingFromMemory) {
  const auto examples = Stream(200);
  const std::string path = dir_ + "/examples.bin";
  ASSERT_TRUE(WriteExampleFile(path, examples).ok());
  auto read = ReadExampleFile(path);
  ASSERT_TRUE(read.ok());

  std::string checksums[2];
  const std::vector<OfflineExample>* inputs[2] = {&examples, &*read};
  for (int i = 0; i < 2; ++i) {
    auto trainer = Trainer::Create(TinyOptions(dir_ + "/store" + std::to_string(i)));
    ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
    const std::string curve_path = dir_ + "/curve" + std::to_string(i) + ".csv";
    std::FILE* curve = std::fopen(curve_path.c_str(), "w");
    ASSERT_NE(curve, nullptr);
    ASSERT_TRUE(TrainEpochs(trainer->get(), *inputs[i], 3, curve).ok());
    std::fclose(curve);
    // 3 epochs of 200 examples in batches of 16, the last partial batch flushed.
    EXPECT_EQ((*trainer)->examples(), 600);
    EXPECT_EQ((*trainer)->step(), 38);
    std::ifstream lines(curve_path);
    int rows = 0;
    for (std::string line; std::getline(lines, line);) ++rows;
    EXPECT_EQ(rows, 1 + 37);  // the header, a row per step taken while adding examples
    auto manifest = (*trainer)->WriteSnapshot(1);
    ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
    checksums[i] = manifest->params_checksum;
  }
  EXPECT_EQ(checksums[0], checksums[1]);
}

TEST_F(OfflineExamplesTest, KeepGoingReportsProgressAndStops) {
  const auto examples = Stream(1500);
  auto trainer = Trainer::Create(TinyOptions(dir_ + "/store"));
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::vector<std::pair<int64_t, int64_t>> seen;
  ASSERT_TRUE(TrainEpochs(trainer->get(), examples, 2, nullptr, [&](int64_t done, int64_t total) {
                seen.emplace_back(done, total);
                return true;
              }).ok());
  // Every 1024 examples, then at the end.
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, int64_t>>{{0, 3000}, {1024, 3000}, {2048, 3000}, {3000, 3000}}));
  EXPECT_EQ((*trainer)->examples(), 3000);
  auto stopped = Trainer::Create(TinyOptions(dir_ + "/store2"));
  ASSERT_TRUE(stopped.ok());
  const Status st = TrainEpochs(stopped->get(), examples, 2, nullptr, [](int64_t done, int64_t) { return done < 1024; });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ((*stopped)->examples(), 1024);
}

TEST(OfflineExamples, TrainEpochsNeedsATrainer) {
  EXPECT_FALSE(TrainEpochs(nullptr, {}, 1).ok());
}

}  // namespace
}  // namespace streamrec::training
