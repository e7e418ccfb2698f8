// `streamrec bench prequential`: the served system in process, test-then-train with a
// barrier, on the first MovieLens events (skipped when the data set is absent).
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>

#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

TEST(PrequentialBenchTest, ReportsHitRateAndNdcgOverTime) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  const std::string data = *ml + "/u.data";
  testing::ScratchDir dir;
  std::string out, err;
  const int code = testing::RunToEnd(
      dir,
      // Batches of 256 (not 1024): enough steps in 4000 events for a model to beat chance,
      // which the loader's sanity check requires before a version is swapped in.
      {STREAMREC_BINARY, "--set", "trainer.device=cpu", "--set", "trainer.batch_size=256", "bench",
       "prequential", "--data", data,
       "--limit", "4000", "--window", "1000", "--snapshot-every", "1000", "--report",
       dir.File("report.json")},
      &out, &err, "", 280);
  ASSERT_EQ(code, 0) << out << err;
  std::smatch m;
  const std::regex line(R"(prequential blend: 4000 events, HitRate@10 ([0-9.]+), NDCG@10 ([0-9.]+))");
  ASSERT_TRUE(std::regex_search(out, m, line)) << out;
  const double hit_rate = std::stod(m[1]);
  const double ndcg = std::stod(m[2]);
  EXPECT_GT(hit_rate, 0.0);
  EXPECT_LE(hit_rate, 1.0);
  EXPECT_LE(ndcg, hit_rate);  // each hit's gain is at most 1
  const std::string report = testing::ReadFile(dir.File("report.json"));
  EXPECT_NE(report.find("\"events\":4000"), std::string::npos) << report;
  EXPECT_NE(report.find("\"warm\":{"), std::string::npos) << report;
  EXPECT_NE(report.find("\"coverage\":"), std::string::npos) << report;
  // Four windows of 1000 events each.
  int windows = 0;
  for (size_t p = report.find("\"end_event\""); p != std::string::npos;
       p = report.find("\"end_event\"", p + 1)) {
    ++windows;
  }
  EXPECT_EQ(windows, 4) << report;
  // Models were written, loaded through serving's loader and swapped in (the first ones,
  // after a few steps, may be refused as no better than chance).
  EXPECT_EQ(report.find("\"models_loaded\":0"), std::string::npos) << report;
  EXPECT_NE(report.find("\"models_refused\":"), std::string::npos) << report;
}

// The W-RNN user tower (trainer.history_encoder=wrnn: a GRU with time-gap features)
// through the whole served path: trained, snapshotted, loaded by serving's loader (its
// sanity check included) and encoding the users' windows for the two-tower channel.
TEST(PrequentialBenchTest, ServesTheWrnnHistoryEncoder) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  testing::ScratchDir dir;
  std::string out, err;
  const int code = testing::RunToEnd(
      dir,
      {STREAMREC_BINARY, "--set", "trainer.device=cpu", "--set", "trainer.batch_size=256",
       "--set", "trainer.history_encoder=wrnn", "bench", "prequential", "--data",
       *ml + "/u.data", "--limit", "4000", "--window", "1000", "--snapshot-every", "1000",
       "--report", dir.File("report.json")},
      &out, &err, "", 280);
  ASSERT_EQ(code, 0) << out << err;
  std::smatch m;
  const std::regex line(R"(prequential blend: 4000 events, HitRate@10 ([0-9.]+), NDCG@10 ([0-9.]+))");
  ASSERT_TRUE(std::regex_search(out, m, line)) << out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  const std::string report = testing::ReadFile(dir.File("report.json"));
  EXPECT_EQ(report.find("\"models_loaded\":0"), std::string::npos) << report;
  EXPECT_NE(report.find("\"models_loaded\":"), std::string::npos) << report;
}

TEST(PrequentialBenchTest, RejectsUnknownModelAndChannel) {
  testing::ScratchDir dir;
  // Two ratings in MovieLens form are enough to reach the checks.
  const std::string data = dir.File("u.data");
  {
    std::ofstream f(data);
    f << "1\t10\t5\t881250949\n2\t10\t4\t881250950\n";
  }
  std::string out, err;
  EXPECT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "prequential", "--data", data,
                                    "--model", "nope"}, &out, &err, "", 60), 1);
  EXPECT_NE(err.find("blend, top, mc or itemknn"), std::string::npos) << err;
  EXPECT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "prequential", "--data", data,
                                    "--channels", "svd"}, &out, &err, "", 60), 1);
  EXPECT_NE(err.find("unknown channel 'svd'"), std::string::npos) << err;
  // A baseline on the tiny stream: runs, and keeps the summary form.
  ASSERT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "prequential", "--data", data,
                                    "--model", "top"}, &out, &err, "", 60), 0) << err;
  EXPECT_NE(out.find("prequential top: 2 events, HitRate@10 0.5000"), std::string::npos) << out;
}

// Reports become pictures: each run's report is drawn beside it, several in one chart with
// `bench plot`; what is not a report is refused by name.
TEST(PrequentialBenchTest, DrawsReportsWithGnuplot) {
  if (::access("/usr/bin/gnuplot", X_OK) != 0) GTEST_SKIP() << "gnuplot not installed (Debian package gnuplot-nox)";
  testing::ScratchDir dir;
  const std::string data = dir.File("u.data");
  {
    std::ofstream f(data);
    f << "1\t10\t5\t881250949\n2\t10\t4\t881250950\n3\t11\t4\t881250951\n3\t10\t4\t881250952\n";
  }
  std::string out, err;
  for (const char* model : {"top", "mc"}) {
    ASSERT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "prequential", "--data", data, "--model", model,
                                      "--window", "2", "--report", dir.File(std::string(model) + ".json")},
                                &out, &err, "", 60),
              0)
        << err;
    EXPECT_NE(err.find("plot written to " + dir.File(std::string(model) + ".svg")), std::string::npos) << err;
    EXPECT_NE(testing::ReadFile(dir.File(std::string(model) + ".svg")).find("<svg"), std::string::npos);
  }
  ASSERT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "plot", "--out", dir.File("all.svg"),
                                    dir.File("top.json"), dir.File("mc.json")},
                              &out, &err, "", 60),
            0)
      << err;
  const std::string svg = testing::ReadFile(dir.File("all.svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find(">top<"), std::string::npos) << "each report is labelled by its model";
  EXPECT_NE(svg.find(">mc<"), std::string::npos);
  EXPECT_EQ(testing::RunToEnd(dir, {STREAMREC_BINARY, "bench", "plot", "--out", dir.File("bad.svg"), data},
                              &out, &err, "", 60),
            1);
  EXPECT_NE(err.find(data + ": not JSON"), std::string::npos) << err;
}

}  // namespace
}  // namespace streamrec
