// `streamrec bench prequential` over the live pipeline, on the first MovieLens events.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

TEST(PrequentialBenchTest, ReportsHitRateAndNdcgOverTime) {
  testing::ScratchDir dir;
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  const std::string data = *ml + "/u.data";
  std::string out, err;
  const int code = testing::RunToEnd(
      dir,
      {STREAMREC_BINARY, "bench", "prequential", "--data", data, "--limit", "4000", "--rate", "0",
       "--window", "1000", "--model", "cooc", "--report", dir.File("report.json")},
      &out, &err, "", 240);
  ASSERT_EQ(code, 0) << out << err;
  std::smatch m;
  const std::regex line(R"(prequential cooc: 4000 events, HitRate@10 ([0-9.]+), NDCG@10 ([0-9.]+))");
  ASSERT_TRUE(std::regex_search(out, m, line)) << out;
  const double hit_rate = std::stod(m[1]);
  const double ndcg = std::stod(m[2]);
  EXPECT_GE(hit_rate, 0.0);
  EXPECT_LE(hit_rate, 1.0);
  EXPECT_LE(ndcg, hit_rate);  // each hit's gain is at most 1
  const std::string report = testing::ReadFile(dir.File("report.json"));
  EXPECT_NE(report.find("\"events\":4000"), std::string::npos) << report;
  // Four windows of 1000 events each.
  int windows = 0;
  for (size_t p = report.find("\"end_event\""); p != std::string::npos;
       p = report.find("\"end_event\"", p + 1)) {
    ++windows;
  }
  EXPECT_EQ(windows, 4) << report;
}

TEST(PrequentialBenchTest, RejectsUnknownModel) {
  testing::ScratchDir dir;
  // Two ratings in MovieLens form are enough to reach the model check.
  const std::string data = dir.File("u.data");
  testing::WriteFile(data, "1\t10\t5\t881250949\n2\t10\t4\t881250950\n");
  std::string out, err;
  EXPECT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "prequential", "--data", data,
                                    "--model", "nope"}, &out, &err, "", 60), 1);
  EXPECT_NE(err.find("cooc, two_tower or blend"), std::string::npos) << err;
}

}  // namespace
}  // namespace streamrec
