// End-to-end: the live pipeline trains the ranker (docs/DESIGN.md "The ranking stage").
// `streamrec run` on the embedded broker with serving.ranker.enabled: serving publishes a
// ranking example for each sampled live click on streamrec.ranker-examples, the trainer
// stage trains the ranker on them, its snapshots carry ranker.bin, serving loads it with
// the version and ranks with it; after Ctrl-C the newest snapshot's ranker, loaded by
// serving's loader, is not the initial one. Waits are bounded; nothing asserts a wall time
// (the examples' rate is printed as a measurement).
#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "serving/ranker_features.h"
#include "serving/two_tower_loader.h"
#include "serving/two_tower_model.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "training/ranker.h"
#include "training/ranker_trainer.h"
#include "training/snapshot.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

using testing::MetricSample;
using testing::ScrapeMetrics;

TEST(RunRanker, TheLivePipelineTrainsTheRankerAndServingLoadsIt) {
  const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
  if (target.real) GTEST_SKIP() << "embedded broker only (run's groups are fixed names)";
  testing::ScratchDir dir;
  std::vector<std::string> argv = {STREAMREC_BINARY, "--log-level", "info", "run", "--http", "127.0.0.1:0",
                                   "--metrics", "127.0.0.1:0", "--rate", "300", "--partitions", "2", "--quiet",
                                   "--state-dir", dir.File("state")};
  for (const char* s : {"serving.ranker.enabled=true", "serving.ranker.examples_rate=1",
                        "trainer.snapshot_every_seconds=2"}) {
    argv.push_back("--set");
    argv.push_back(s);
  }
  testing::Subprocess run(argv, dir.File("run.out"), dir.File("run.err"));
  int metrics_port = 0;
  const std::regex metrics_line(R"(metrics:\s+http://127\.0\.0\.1:([0-9]+)/metrics)");
  for (auto deadline = Clock::now() + seconds(90); Clock::now() < deadline && metrics_port == 0;) {
    const std::string out = run.out();
    std::smatch m;
    if (std::regex_search(out, m, metrics_line)) {
      metrics_port = std::stoi(m[1]);
    } else {
      ASSERT_LT(run.Wait(milliseconds(100)), 0) << "run exited\n" << run.err();
    }
  }
  ASSERT_GT(metrics_port, 0) << run.out() << run.err();

  // Until the trainer trained several ranker steps' worth of lists and serving ranked an
  // example's request with a ranker it loaded from a snapshot.
  double published = -1, trained = -1, ranked = -1, skipped = -1, cpu = -1, first_published = -1;
  Clock::time_point first_at;
  std::string metrics;
  for (auto deadline = Clock::now() + seconds(300); Clock::now() < deadline;) {
    metrics = ScrapeMetrics(metrics_port);
    published = MetricSample(metrics, "streamrec_serving_ranker_examples_total", {"result=\"published\""});
    trained = MetricSample(metrics, "streamrec_trainer_ranking_examples_total", {"result=\"trained\""});
    skipped = MetricSample(metrics, "streamrec_trainer_ranking_examples_total", {"result=\"skipped\""});
    ranked = MetricSample(metrics, "streamrec_serving_ranker_examples_ranked_total", {});
    cpu = MetricSample(metrics, "streamrec_serving_ranker_example_cpu_seconds_total", {});
    if (published > 0 && first_published < 0) {
      first_published = published;
      first_at = Clock::now();
    }
    if (trained >= 64 && ranked >= 1) break;
    ASSERT_LT(run.Wait(milliseconds(500)), 0) << "run exited\n" << run.err();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - first_at).count();
  const double not_candidate =
      MetricSample(metrics, "streamrec_serving_ranker_examples_total", {"result=\"not_candidate\""});
  std::printf("[ measured ] ranking examples: %.0f published, %.0f not candidates, %.1f/s published "
              "(rate 1, 300 clicks/s); %.0f trained, %.0f skipped; %.0f us serving CPU per sampled click; "
              "%.0f examples ranked by a loaded ranker\n",
              published, not_candidate, secs > 0 ? (published - first_published) / secs : 0.0, trained, skipped,
              published + not_candidate > 0 ? 1e6 * cpu / (published + not_candidate) : 0.0, ranked);
  EXPECT_GE(trained, 64) << run.err();
  EXPECT_EQ(skipped, 0) << run.err();
  EXPECT_GE(ranked, 1) << "serving never ranked with a loaded ranker\n" << run.err();
  run.Signal(SIGINT);
  ASSERT_EQ(run.Wait(seconds(60)), 0) << run.err();

  // The newest snapshot carries a ranker that serving's loader loads, trained away from
  // the initial weights.
  auto latest = training::LatestSnapshotDir(dir.File("state") + "/models");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  auto manifest = training::ReadSnapshotManifest(*latest);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  ASSERT_FALSE(manifest->ranker_checksum.empty()) << *latest << " has no ranker";
  serving::TwoTowerLoaderOptions options;
  options.sanity.max_events = 0;
  serving::TwoTowerSnapshotLoader loader(*latest, manifest->version, manifest->checksum, options, nullptr);
  auto model = loader.Load();
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_NE((*model)->ranker(), nullptr) << "serving's loader did not load the ranker";
  EXPECT_EQ((*model)->ranker()->shape().num_features, serving::kRankerFeatures);
  auto initial = training::RankerTrainer::Create(training::RankerOptions(), serving::kRankerFeatures);
  ASSERT_TRUE(initial.ok());
  auto initial_model = (*initial)->Model();
  ASSERT_TRUE(initial_model.ok());
  ASSERT_EQ((*model)->ranker()->params().size(), (*initial_model)->params().size());
  double moved = 0;
  for (size_t i = 0; i < (*initial_model)->params().size(); ++i) {
    moved = std::max<double>(moved, std::abs((*model)->ranker()->params()[i] - (*initial_model)->params()[i]));
  }
  std::printf("[ measured ] largest change of a ranker weight from its initial value: %.4f\n", moved);
  EXPECT_GT(moved, 1e-4);
  EXPECT_NE(run.err().find("ranking_lists="), std::string::npos) << run.err();
}

}  // namespace
}  // namespace streamrec
