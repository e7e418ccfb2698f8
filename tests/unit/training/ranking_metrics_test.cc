#include "training/ranking_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "tests/support/test_data.h"
#include "training/flat_json.h"

namespace streamrec::training {
namespace {

TEST(RankingMetricsTest, TinyExactValues) {
  // User a: relevant {x, y, z}; ranked x, q, y -> hits at ranks 1 and 3.
  // User b: relevant {w}; ranked q, r, s -> no hit.
  // User c: no ranked list -> not evaluated.
  RankedLists ranked = {{"a", {"x", "q", "y"}}, {"b", {"q", "r", "s"}}};
  RelevantSets relevant = {{"a", {"x", "y", "z"}}, {"b", {"w"}}, {"c", {"x"}}};
  RankingMetrics m = ComputeRankingMetrics(ranked, relevant, 3, 10);
  EXPECT_EQ(m.users, 2);
  EXPECT_NEAR(m.precision, (2.0 / 3 + 0) / 2, 1e-12);
  EXPECT_NEAR(m.recall, (2.0 / 3 + 0) / 2, 1e-12);
  const double dcg = 1.0 + 1.0 / std::log2(4.0);
  const double idcg = 1.0 + 1.0 / std::log2(3.0) + 1.0 / std::log2(4.0);
  EXPECT_NEAR(m.ndcg, dcg / idcg / 2, 1e-12);
  EXPECT_NEAR(m.map, (1.0 + 2.0 / 3) / 3 / 2, 1e-12);
  EXPECT_NEAR(m.hit_rate, 0.5, 1e-12);
  EXPECT_NEAR(m.mrr, 0.5, 1e-12);
  EXPECT_NEAR(m.coverage, 5.0 / 10, 1e-12);  // x, q, y, r, s
  // At k = 1 only the first entry counts; IDCG over min(|rel|, 1).
  RankingMetrics m1 = ComputeRankingMetrics(ranked, relevant, 1, 10);
  EXPECT_NEAR(m1.precision, 0.5, 1e-12);
  EXPECT_NEAR(m1.ndcg, 0.5, 1e-12);
  EXPECT_NEAR(m1.recall, 1.0 / 3 / 2, 1e-12);
}

TEST(RankingMetricsTest, TopKIsStableOnTies) {
  std::vector<ScoredItem> preds = {
      {"u", "a", 1.0}, {"u", "b", 3.0}, {"u", "c", 1.0}, {"u", "d", 2.0}, {"v", "e", 0.5}};
  RankedLists top = TopKPerUser(preds, 3);
  EXPECT_EQ(top["u"], (std::vector<std::string>{"b", "d", "a"}));
  EXPECT_EQ(top["v"], (std::vector<std::string>{"e"}));
}

TEST(RankingMetricsTest, ReadersRejectBadLines) {
  const std::string path = ::testing::TempDir() + "/bad_ratings.tsv";
  {
    std::ofstream out(path);
    out << "1\t2\t3\t100\n1\t2\tthree\t100\n";
  }
  auto r = ReadRatingsTsv(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(":2:"), std::string::npos);
  std::remove(path.c_str());
  EXPECT_EQ(ReadRatingsTsv("/nonexistent/x.tsv").status().code(), Status::Code::kIoError);
}

// DESIGN §7: the project's metrics reproduce the reference library's values on the
// golden prediction file to 1e-6.
TEST(RankingMetricsTest, ReproducesGoldenMetrics) {
  const auto golden_dir = testing::GoldenMetricsDir();
  if (!golden_dir) GTEST_SKIP() << testing::MissingTestData("golden-metrics");
  const std::string dir = *golden_dir;
  auto preds = ReadPredictionsTsv(dir + "/predictions.tsv");
  auto truth = ReadRatingsTsv(dir + "/test.tsv");
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  std::ifstream in(dir + "/metrics.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto golden = FlatJson::Parse(ss.str());
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  const RelevantSets relevant = RelevantFromRatings(*truth);
  int checked = 0;
  for (int k : {1, 5, 10}) {
    const RankingMetrics m = ComputeRankingMetrics(TopKPerUser(*preds, k), relevant, k, 0);
    EXPECT_EQ(m.users, 943);
    const std::string at = "@" + std::to_string(k);
    EXPECT_NEAR(m.precision, *golden->GetDouble("precision" + at), 1e-6) << at;
    EXPECT_NEAR(m.recall, *golden->GetDouble("recall" + at), 1e-6) << at;
    EXPECT_NEAR(m.ndcg, *golden->GetDouble("ndcg" + at), 1e-6) << at;
    EXPECT_NEAR(m.map, *golden->GetDouble("map" + at), 1e-6) << at;
    checked += 4;
  }
  EXPECT_EQ(checked, 12);
}

}  // namespace
}  // namespace streamrec::training
