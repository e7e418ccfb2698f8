#include "eval/quality_plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "eval/prequential.h"
#include "tests/unit/state/temp_dir.h"
#include "training/ranking_metrics.h"

namespace streamrec::eval {
namespace {

PrequentialReport TwoWindowReport() {
  PrequentialReport r;
  r.model = "two_tower";
  r.k = 10;
  for (int i = 0; i < 4; ++i) r.all.Add(i == 0 ? 1 : 0);  // one hit at rank 1 of 4 events
  PrequentialWindow a;
  a.end_event = 2;
  a.metrics.Add(1);
  a.metrics.Add(0);
  PrequentialWindow b;
  b.end_event = 4;
  b.metrics.Add(0);
  b.metrics.Add(0);
  r.windows = {a, b};
  return r;
}

bool HaveGnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(QualityPlotTest, ParsesAPrequentialReport) {
  auto r = ParseQualityReport(TwoWindowReport().ToJson(), "file");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->label, "two_tower");
  EXPECT_EQ(r->k, 10);
  EXPECT_DOUBLE_EQ(r->hit_rate, 0.25);
  EXPECT_DOUBLE_EQ(r->ndcg, 0.25);
  ASSERT_EQ(r->windows.size(), 2u);
  EXPECT_DOUBLE_EQ(r->windows[0].end_event, 2);
  EXPECT_DOUBLE_EQ(r->windows[0].hit_rate, 0.5);
  EXPECT_DOUBLE_EQ(r->windows[1].hit_rate, 0);
}

TEST(QualityPlotTest, ParsesAnEvalReportAtItsLargestCutOff) {
  std::vector<training::RankingMetrics> metrics(3);
  metrics[0].k = 1;
  metrics[0].hit_rate = 0.1;
  metrics[0].ndcg = 0.1;
  metrics[1].k = 5;
  metrics[1].hit_rate = 0.3;
  metrics[1].ndcg = 0.2;
  metrics[2].k = 20;
  metrics[2].hit_rate = 0.5;
  metrics[2].ndcg = 0.25;
  // No "model" field: the fallback label names it.
  auto r = ParseQualityReport(training::RankingMetricsJson(metrics, {}), "golden-cooc");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->label, "golden-cooc");
  EXPECT_EQ(r->k, 20);
  EXPECT_DOUBLE_EQ(r->hit_rate, 0.5);
  EXPECT_DOUBLE_EQ(r->ndcg, 0.25);
  EXPECT_TRUE(r->windows.empty());
}

TEST(QualityPlotTest, RefusesWhatIsNotAReport) {
  EXPECT_FALSE(ParseQualityReport("not json", "x").ok());
  EXPECT_FALSE(ParseQualityReport("[1,2]", "x").ok());
  EXPECT_FALSE(ParseQualityReport(R"({"model":"blend","precision@10":0.1})", "x").ok());
  EXPECT_FALSE(ParseQualityReport(R"({"k":10,"hit_rate":0.1,"ndcg":0.1,"windows":[{"end_event":1}]})", "x").ok());
  EXPECT_FALSE(ReadQualityReport("/nonexistent/report.json").ok());
}

TEST(QualityPlotTest, ScriptHoldsTheDataAndQuotesLabels) {
  auto curve = ParseQualityReport(TwoWindowReport().ToJson(), "x");
  ASSERT_TRUE(curve.ok());
  QualityReport odd;
  odd.label = "say \"hi\"";
  odd.hit_rate = 0.125;
  odd.ndcg = 0.0625;
  const std::string script = QualityPlotScript({*curve, odd}, "ablation", "/tmp/out.svg");
  EXPECT_NE(script.find("set output \"/tmp/out.svg\""), std::string::npos) << script;
  EXPECT_NE(script.find("$curve0 << EOD\n2 0.5 "), std::string::npos) << script;
  EXPECT_EQ(script.find("$curve1"), std::string::npos) << "a report without windows has no curve";
  EXPECT_NE(script.find("\"say \\\"hi\\\"\" 0.125 0.0625\n"), std::string::npos) << script;
  EXPECT_NE(script.find("\"two_tower\" 0.25 0.25\n"), std::string::npos) << script;
  EXPECT_NE(script.find("multiplot layout 3,1"), std::string::npos) << script;
  // Without any curve only the bar panel is drawn.
  EXPECT_NE(QualityPlotScript({odd}, "t", "o.svg").find("multiplot layout 1,1"), std::string::npos);
}

TEST(QualityPlotTest, PlotPathReplacesJson) {
  EXPECT_EQ(PlotPathFor("out/prequential-blend.json"), "out/prequential-blend.svg");
  EXPECT_EQ(PlotPathFor("report"), "report.svg");
}

TEST(QualityPlotTest, GnuplotDrawsAnSvg) {
  if (!HaveGnuplot()) GTEST_SKIP() << "gnuplot not installed (Debian package gnuplot-nox)";
  testing::TempDir dir;
  auto blend = ParseQualityReport(TwoWindowReport().ToJson(), "x");
  ASSERT_TRUE(blend.ok());
  const std::string svg = dir.path() + "/chart.svg";
  ASSERT_TRUE(WriteQualityPlot({*blend}, "prequential: two_tower", svg).ok());
  const std::string text = Slurp(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("two_tower"), std::string::npos);
  EXPECT_NE(Slurp(dir.path() + "/chart.gp").find("$curve0"), std::string::npos);
  // gnuplot's failure is an error, not a silent empty file.
  EXPECT_FALSE(WriteQualityPlot({*blend}, "t", dir.path() + "/no/such/dir/chart.svg").ok());
}

}  // namespace
}  // namespace streamrec::eval
