// End-to-end: `streamrec run` with the batch layer on a schedule
// (lambda.batch_interval_minutes, DESIGN §2 "Scheduling the batch layer") on the embedded
// broker: versions are written, announced on streamrec.batch and adopted by the item
// stage (lambda.merge), old ones are pruned to lambda.batch_keep, the metrics say so, and
// Ctrl-C still stops everything with exit 0. A batch directory that cannot be written
// makes every run fail, counted and retried, while the stages keep serving. Waits are
// bounded; nothing asserts a wall time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "batch/batch_manifest.h"
#include "tests/support/metrics_scrape.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_broker.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A started `streamrec run`, its HTTP and metrics ports.
struct RunningPipeline {
  std::unique_ptr<testing::Subprocess> process;
  int http_port = 0;
  int metrics_port = 0;
};

RunningPipeline StartRun(const testing::ScratchDir& dir, const std::vector<std::string>& sets) {
  std::vector<std::string> argv = {STREAMREC_BINARY, "--log-level", "info", "run", "--http", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
                                   "--rate", "300", "--partitions", "2", "--quiet", "--state-dir",
                                   dir.File("state")};
  for (const std::string& s : sets) {
    argv.push_back("--set");
    argv.push_back(s);
  }
  RunningPipeline run;
  run.process = std::make_unique<testing::Subprocess>(argv, dir.File("run.out"), dir.File("run.err"));
  const std::regex metrics_line(R"(metrics:\s+http://127\.0\.0\.1:([0-9]+)/metrics)");
  const std::regex http_line(R"(HTTP API:\s+http://127\.0\.0\.1:([0-9]+))");
  for (auto deadline = Clock::now() + seconds(90); Clock::now() < deadline && run.http_port == 0;) {
    const std::string out = run.process->out();
    std::smatch m, h;
    if (std::regex_search(out, m, metrics_line) && std::regex_search(out, h, http_line)) {
      run.metrics_port = std::stoi(m[1]);
      run.http_port = std::stoi(h[1]);
    } else if (run.process->Wait(milliseconds(100)) >= 0) {
      break;
    }
  }
  return run;
}

using testing::MetricSample;
using testing::ScrapeMetrics;

// Stops the run as Ctrl-C does and returns its exit status (bounded).
int Interrupt(RunningPipeline& run) {
  run.process->Signal(SIGINT);
  return run.process->Wait(seconds(60));
}

TEST(RunBatchSchedule, VersionsAreWrittenAnnouncedAdoptedAndPruned) {
  const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
  if (target.real) GTEST_SKIP() << "embedded broker only (run's groups are fixed names)";
  testing::ScratchDir dir;
  const std::string views = dir.File("views");
  // A run every 3 s; views only (the model adds minutes of CPU per run on a loaded VM and
  // has its own tests).
  RunningPipeline run = StartRun(dir, {"lambda.merge=true", "lambda.batch_dir=" + views, "lambda.batch_interval_minutes=0.05",
                           "lambda.batch_model=false", "lambda.batch_keep=2", "operators.flush_interval_ms=500"});
  ASSERT_GT(run.http_port, 0) << run.process->out() << run.process->err();
  EXPECT_NE(run.process->out().find("batch:     the batch layer"), std::string::npos) << run.process->out();

  // Three versions written, one of them adopted by the item stage.
  double ok = 0, adopted = 0, version = 0, age = 0;
  std::string metrics;
  for (auto deadline = Clock::now() + seconds(240); Clock::now() < deadline;) {
    metrics = ScrapeMetrics(run.metrics_port);
    ok = MetricSample(metrics, "streamrec_batch_runs_total", {"result=\"ok\""});
    adopted = MetricSample(metrics, "streamrec_lambda_adoptions_total", {"result=\"adopted\""});
    version = MetricSample(metrics, "streamrec_lambda_batch_version", {"stage=\"item\""});
    age = MetricSample(metrics, "streamrec_lambda_batch_view_age_seconds", {"stage=\"item\""});
    if (ok >= 3 && adopted >= 1 && version >= 1 && age > 0) break;
    ASSERT_LT(run.process->Wait(milliseconds(500)), 0) << "run exited\n" << run.process->err();
  }
  EXPECT_GE(ok, 3) << run.process->err();
  EXPECT_GE(adopted, 1) << run.process->err();
  EXPECT_GE(version, 1) << run.process->err();
  // The item stage exports the adopted view's age (its creation time came with the
  // announcement) and how far the speed layer runs past its cutoff.
  EXPECT_GT(age, 0) << run.process->err();
  EXPECT_GE(MetricSample(metrics, "streamrec_lambda_cutoff_lag_records", {"stage=\"item\""}), 0);
  EXPECT_EQ(MetricSample(metrics, "streamrec_batch_runs_total", {"result=\"failed\""}), 0) << run.process->err();
  EXPECT_GT(MetricSample(metrics, "streamrec_batch_last_run_seconds", {}), 0);
  EXPECT_GT(MetricSample(metrics, "streamrec_batch_last_success_timestamp_seconds", {}), 0);

  // Pruned to the newest two, each complete, with a cutoff from the user stage's commits.
  const std::vector<int64_t> versions = batch::ListVersions(views);
  EXPECT_EQ(versions.size(), 2u);
  for (int64_t v : versions) {
    auto manifest = batch::ReadManifest(views + "/" + batch::VersionDirName(v));
    ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
    EXPECT_TRUE(batch::VerifyVersion(*manifest).ok());
    EXPECT_EQ(manifest->source.topic, "clicks");
    EXPECT_GT(manifest->events, 0);
  }
  if (versions.size() == 2) EXPECT_GE(versions[0], ok - 1);  // the oldest went

  EXPECT_EQ(Interrupt(run), 0) << run.process->err();
}

TEST(RunBatchSchedule, FailedRunsAreCountedAndRetriedWhileTheStagesServe) {
  const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
  if (target.real) GTEST_SKIP() << "embedded broker only (run's groups are fixed names)";
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("not-a-dir"), "x");
  RunningPipeline run = StartRun(dir, {"lambda.batch_dir=" + dir.File("not-a-dir") + "/views",
                           "lambda.batch_interval_minutes=0.03", "lambda.batch_model=false"});
  ASSERT_GT(run.http_port, 0) << run.process->out() << run.process->err();
  double failed = 0;
  std::string metrics;
  for (auto deadline = Clock::now() + seconds(180); Clock::now() < deadline && failed < 2;) {
    metrics = ScrapeMetrics(run.metrics_port);
    failed = MetricSample(metrics, "streamrec_batch_runs_total", {"result=\"failed\""});
    ASSERT_LT(run.process->Wait(milliseconds(500)), 0) << "run exited\n" << run.process->err();
  }
  EXPECT_GE(failed, 2) << run.process->err();  // retried at the next interval
  EXPECT_EQ(MetricSample(metrics, "streamrec_batch_runs_total", {"result=\"ok\""}), 0);
  EXPECT_NE(run.process->err().find("batch layer: run failed"), std::string::npos) << run.process->err();
  // The stages are untouched: serving answers.
  httplib::Client client("127.0.0.1", run.http_port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get("/v1/recommendations?user_id=user-00007&k=5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Interrupt(run), 0) << run.process->err();
}

// lambda.model batch: serving loads the batch layer's model (model/ of each version), not
// the online trainer's. The trainer here never snapshots while the test runs, so a served
// model can only be a batch one: with the key ignored, nothing is served.
TEST(RunBatchSchedule, LambdaModelBatchServesTheBatchModel) {
  const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
  if (target.real) GTEST_SKIP() << "embedded broker only (run's groups are fixed names)";
  testing::ScratchDir dir;
  const std::string views = dir.File("views");
  RunningPipeline run = StartRun(dir, {"lambda.model=batch", "lambda.batch_dir=" + views,
                                       "lambda.batch_interval_minutes=0.1", "lambda.batch_epochs=2",
                                       "trainer.snapshot_every_seconds=100000", "trainer.snapshot_every_steps=0"});
  ASSERT_GT(run.http_port, 0) << run.process->out() << run.process->err();
  double served = 0;
  std::string metrics;
  for (auto deadline = Clock::now() + seconds(300); Clock::now() < deadline && served < 1;) {
    metrics = ScrapeMetrics(run.metrics_port);
    served = MetricSample(metrics, "streamrec_model_version", {"component=\"two_tower\""});
    ASSERT_LT(run.process->Wait(milliseconds(500)), 0) << "run exited\n" << run.process->err();
  }
  ASSERT_GE(served, 1) << run.process->err();
  // The served version is a batch version with a model, created when its manifest says.
  auto manifest = batch::ReadManifest(views + "/" + batch::VersionDirName(static_cast<int64_t>(served)));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_TRUE(manifest->has_model);
  EXPECT_NEAR(MetricSample(metrics, "streamrec_model_created_timestamp_seconds", {"component=\"two_tower\""}),
              static_cast<double>(manifest->created_ms) / 1000.0, 0.002);
  // The online trainer announced nothing.
  EXPECT_LE(MetricSample(metrics, "streamrec_trainer_snapshot_seconds_count", {}), 0);
  httplib::Client client("127.0.0.1", run.http_port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get("/v1/recommendations?user_id=user-00007&k=5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("\"model_version\":" + std::to_string(static_cast<int64_t>(served))), std::string::npos)
      << res->body;
  EXPECT_EQ(Interrupt(run), 0) << run.process->err();
}

// lambda.model warm: the online trainer starts from the batch model when a version with one
// is announced, and keeps training and announcing its own versions.
TEST(RunBatchSchedule, LambdaModelWarmStartsTheTrainerFromTheBatchModel) {
  const testing::TestBrokerTarget target = testing::TestBrokerTargetFromEnv();
  if (target.real) GTEST_SKIP() << "embedded broker only (run's groups are fixed names)";
  testing::ScratchDir dir;
  RunningPipeline run = StartRun(dir, {"lambda.model=warm", "lambda.batch_interval_minutes=0.1",
                                       "lambda.batch_epochs=2", "trainer.snapshot_every_seconds=3"});
  ASSERT_GT(run.http_port, 0) << run.process->out() << run.process->err();
  double warm = -1, version_at_warm = -1, version = -1;
  std::string metrics;
  for (auto deadline = Clock::now() + seconds(300); Clock::now() < deadline;) {
    metrics = ScrapeMetrics(run.metrics_port);
    warm = MetricSample(metrics, "streamrec_trainer_warm_starts_total", {});
    version = MetricSample(metrics, "streamrec_model_version", {"component=\"two_tower\""});
    if (warm >= 1 && version_at_warm < 0) version_at_warm = version;
    if (warm >= 1 && version > version_at_warm) break;  // trained and announced after it
    ASSERT_LT(run.process->Wait(milliseconds(500)), 0) << "run exited\n" << run.process->err();
  }
  EXPECT_GE(warm, 1) << run.process->err();
  EXPECT_GT(version, version_at_warm) << run.process->err();
  EXPECT_NE(run.process->err().find("warm-started from batch model v"), std::string::npos) << run.process->err();
  EXPECT_EQ(Interrupt(run), 0) << run.process->err();
}

// An unknown lambda.model is refused at start, naming the choices.
TEST(RunBatchSchedule, UnknownLambdaModelIsRefused) {
  testing::ScratchDir dir;
  testing::Subprocess p({STREAMREC_BINARY, "run", "--http", "127.0.0.1:0", "--metrics", "off", "--quiet",
                         "--set", "lambda.model=newest"},
                        dir.File("out"), dir.File("err"));
  EXPECT_NE(p.Wait(seconds(120)), 0);
  EXPECT_NE(p.err().find("lambda.model must be online, batch or warm"), std::string::npos) << p.err();
}

}  // namespace
}  // namespace streamrec
