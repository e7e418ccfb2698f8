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
  std::vector<Prediction> preds = {
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

// Worked by hand. Catalogue {a..f}.
// u1: relevant {a, c}, list [a, b, c]: negatives b, d, e, f (4). a beats all 4; c is below
//     b and above d, e, f: 3. AUC = 7 / 8 = 0.875.
// u2: relevant {e}, list [a, b]: negatives a, b, c, d, f (5). e is unlisted: below a and b,
//     tied with c, d, f: 1.5. AUC = 1.5 / 5 = 0.3.
// AUC = (0.875 + 0.3) / 2 = 0.5875; GAUC = (2 * 0.875 + 1 * 0.3) / 3 = 0.683333...
TEST(AucTest, MatchesAHandComputation) {
  RankedLists ranked = {{"u1", {"a", "b", "c"}}, {"u2", {"a", "b"}}};
  RelevantSets relevant = {{"u1", {"a", "c"}}, {"u2", {"e"}}};
  const AucMetrics m = ComputeAuc(ranked, relevant, 6);
  EXPECT_EQ(m.users, 2);
  EXPECT_EQ(m.pairs, 2 * 4 + 1 * 5);
  EXPECT_NEAR(m.auc, 0.5875, 1e-12);
  EXPECT_NEAR(m.gauc, 2.05 / 3.0, 1e-12);
}

TEST(AucTest, PerfectReversedAndUnlistedRankings) {
  RelevantSets relevant = {{"u", {"a", "b"}}};
  EXPECT_DOUBLE_EQ(ComputeAuc({{"u", {"a", "b", "c", "d"}}}, relevant, 4).auc, 1.0);
  EXPECT_DOUBLE_EQ(ComputeAuc({{"u", {"c", "d", "a", "b"}}}, relevant, 4).auc, 0.0);
  EXPECT_DOUBLE_EQ(ComputeAuc({{"u", {}}}, relevant, 4).auc, 0.5) << "no list: every pair is a tie";
  EXPECT_DOUBLE_EQ(ComputeAuc({}, relevant, 4).auc, 0.5) << "a user without a list counts as all ties";
  EXPECT_EQ(ComputeAuc({}, {{"u", {}}}, 4).users, 0) << "no relevant item: skipped";
}

TEST(AucTest, ExcludedItemsAreNeitherPositivesNorNegatives) {
  // x is the user's training item (filtered by serving): were it a negative ranked first,
  // AUC would drop; excluded, the ranking [x, a, b] of relevant a is perfect.
  RelevantSets relevant = {{"u", {"a"}}};
  RelevantSets excluded = {{"u", {"x"}}};
  RankedLists ranked = {{"u", {"x", "a", "b"}}};
  EXPECT_LT(ComputeAuc(ranked, relevant, 3).auc, 1.0);
  const AucMetrics m = ComputeAuc(ranked, relevant, 3, &excluded);
  EXPECT_DOUBLE_EQ(m.auc, 1.0);
  EXPECT_EQ(m.pairs, 1);
}

}  // namespace
}  // namespace streamrec::training
