#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "core/config.h"
#include "tests/support/test_data.h"
#include "training/flat_json.h"
#include "training/offline_examples.h"
#include "training/trainer.h"
#include "training/trainer_config.h"

namespace streamrec::training {
namespace {

namespace fs = std::filesystem;

class EvalCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef STREAMREC_NO_BINARY
    GTEST_SKIP() << "no streamrec binary in this build";
#endif
    std::string tmpl = ::testing::TempDir() + "/eval_command_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs `streamrec eval ARGS --report R` and parses R.
  FlatJson Eval(const std::string& args) {
#ifndef STREAMREC_NO_BINARY
    const std::string report = dir_ + "/report.json";
    fs::remove(report);
    const std::string cmd = std::string(STREAMREC_BINARY) + " eval " + args + " --report " +
                            report + " > " + dir_ + "/stdout.txt 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(report);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = FlatJson::Parse(ss.str());
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << " in " << ss.str();
    if (parsed.ok()) return *parsed;
#endif
    (void)args;
    return FlatJson();
  }

  std::string dir_;
};

TEST_F(EvalCommandTest, ReproducesGoldenMetricsFromPredictionFile) {
  const auto golden_dir = testing::GoldenMetricsDir();
  if (!golden_dir) GTEST_SKIP() << testing::MissingTestData("golden-metrics");
  const std::string g = *golden_dir;
  FlatJson got = Eval("--predictions " + g + "/predictions.tsv --truth " + g +
                      "/test.tsv --k 10");
  std::ifstream in(g + "/metrics.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto golden = FlatJson::Parse(ss.str());
  ASSERT_TRUE(golden.ok());
  for (const char* metric : {"map", "ndcg", "precision", "recall"}) {
    for (int k : {1, 5, 10}) {
      const std::string key = std::string(metric) + "@" + std::to_string(k);
      auto want = golden->GetDouble(key);
      auto have = got.GetDouble(key);
      ASSERT_TRUE(want.ok() && have.ok()) << key;
      EXPECT_NEAR(*have, *want, 1e-6) << key;
    }
  }
}

// Planted structure: 4 groups of 15 users, each group watches its own 10 items in a
// random order. Train on each user's first 6 events, test on the last 4. A model that
// learns anything beats popularity, which cannot tell the groups apart.
TEST_F(EvalCommandTest, TrainTestSmoke) {
  std::mt19937 rng(11);
  std::ofstream train(dir_ + "/train.tsv"), test(dir_ + "/test.tsv");
  for (int u = 0; u < 60; ++u) {
    std::vector<int> items(10);
    for (int i = 0; i < 10; ++i) items[i] = (u % 4) * 10 + i;
    std::shuffle(items.begin(), items.end(), rng);
    for (int i = 0; i < 10; ++i) {
      // Event time in 2001 (the click validation refuses times before 1990).
      (i < 6 ? train : test) << u << "\t" << items[i] << "\t5\t" << 1000000000 + u * 20 + i
                             << "\n";
    }
  }
  train.close();
  test.close();
  const std::string files = "--train " + dir_ + "/train.tsv --test " + dir_ + "/test.tsv --k 4";
  // Each channel of the served recommender alone (the model shape through trainer.*).
  FlatJson pop = Eval(files + " --model popular");
  // Small id tables: the optimizer updates every row each step.
  const std::string small = " trainer.device=cpu trainer.item_capacity=100 trainer.user_capacity=100";
  FlatJson tt = Eval(files +
                     " --model two_tower --epochs 30 --set trainer.batch_size=32"
                     " trainer.embedding_dim=16 trainer.output_dim=16 trainer.hidden_dim=0"
                     " trainer.temperature=0.1 trainer.learning_rate=0.01" + small);
  FlatJson cooc = Eval(files + " --model cooc");
  FlatJson blend = Eval(files + " --epochs 30 --set trainer.batch_size=32" + small);
  ASSERT_TRUE(pop.Has("ndcg@4") && tt.Has("ndcg@4") && cooc.Has("ndcg@4"));
  // Popularity ranks the 30 other groups' items as often as the user's own: ~4/34 * 4.
  EXPECT_LT(*pop.GetDouble("precision@4"), 0.5);
  // Co-occurrence finds the group exactly: the 4 unseen items of the group are the only
  // items that co-occur with the user's history.
  EXPECT_NEAR(*cooc.GetDouble("precision@4"), 1.0, 1e-9);
  EXPECT_GT(*tt.GetDouble("precision@4"), *pop.GetDouble("precision@4") + 0.2);
  EXPECT_GT(*tt.GetDouble("ndcg@4"), *pop.GetDouble("ndcg@4"));
  EXPECT_EQ(*tt.GetString("model"), "two_tower");
  // The served blend keeps what co-occurrence finds.
  EXPECT_EQ(*blend.GetString("model"), "blend");
  EXPECT_GT(*blend.GetDouble("precision@4"), *pop.GetDouble("precision@4") + 0.2);
  // AUC and GAUC are reported; co-occurrence ranks the group's items above the others.
  ASSERT_TRUE(cooc.Has("auc") && cooc.Has("gauc") && pop.Has("auc"));
  EXPECT_GT(*cooc.GetDouble("auc"), 0.9);
  EXPECT_GT(*cooc.GetDouble("auc"), *pop.GetDouble("auc"));
  EXPECT_LE(*cooc.GetDouble("gauc"), 1.0);
}

// The golden figure of a model trained on another machine (a GPU): `eval --examples-out`
// writes the examples it trains on, a trainer elsewhere trains on them as eval does
// (TrainEpochs, the same trainer.* configuration), and `eval --model-dir` serves that
// snapshot. On the same device the two figures are identical.
TEST_F(EvalCommandTest, ModelTrainedElsewhereFromExportedExamplesServesTheSame) {
  std::ofstream train(dir_ + "/train.tsv"), test(dir_ + "/test.tsv");
  for (int u = 0; u < 40; ++u) {
    for (int i = 0; i < 10; ++i) {
      (i < 7 ? train : test) << u << "\t" << (u % 4) * 10 + (i * 3 + u) % 10 << "\t5\t"
                             << 1000000000 + u * 20 + i << "\n";
    }
  }
  train.close();
  test.close();
  const std::vector<std::string> settings = {
      "trainer.device=cpu",        "trainer.item_capacity=100", "trainer.user_capacity=100",
      "trainer.batch_size=32",     "trainer.embedding_dim=16",  "trainer.output_dim=16",
      "trainer.learning_rate=0.01"};
  std::string files = "--train " + dir_ + "/train.tsv --test " + dir_ + "/test.tsv --k 4" +
                      " --model two_tower --epochs 4 --set";
  for (const auto& s : settings) files += " " + s;
  const std::string examples = dir_ + "/examples.bin";
  FlatJson here = Eval(files + " --examples-out " + examples);
  ASSERT_TRUE(here.Has("ndcg@4"));

  Config config;
  ASSERT_TRUE(config.ApplyOverrides(settings).ok());
  auto options = TrainerOptionsFromConfig(config);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  options->model_dir = dir_ + "/store";
  options->resume = false;
  options->snapshot_every_steps = 0;
  options->snapshot_every_seconds = 0;
  auto read = ReadExampleFile(examples);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->size(), 40u * 7);  // one example per train event
  auto trainer = Trainer::Create(*options);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  ASSERT_TRUE(TrainEpochs(trainer->get(), *read, 4).ok());
  ASSERT_TRUE((*trainer)->WriteSnapshot(1).ok());

  FlatJson served = Eval(files + " --model-dir " + dir_ + "/store");
  for (const char* metric : {"ndcg@4", "precision@4", "hit_rate@4", "auc", "gauc"}) {
    ASSERT_TRUE(served.Has(metric)) << metric;
    EXPECT_EQ(*served.GetDouble(metric), *here.GetDouble(metric)) << metric;
  }

  // A store with no snapshot is an error that names the flag, not a model-less figure.
  fs::create_directories(dir_ + "/empty");
#ifndef STREAMREC_NO_BINARY
  const std::string cmd = std::string(STREAMREC_BINARY) + " eval " + files + " --model-dir " +
                          dir_ + "/empty > " + dir_ + "/err.txt 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  std::ifstream err(dir_ + "/err.txt");
  std::stringstream text;
  text << err.rdbuf();
  EXPECT_NE(text.str().find("--model-dir"), std::string::npos) << text.str();
#endif
}

}  // namespace
}  // namespace streamrec::training
