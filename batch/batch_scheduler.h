#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "batch/batch_job.h"
#include "core/config.h"
#include "core/status.h"

namespace streamrec::batch {

// The batch layer on a schedule (issue 11 item 5; DESIGN §2 "Scheduling the batch
// layer"): `streamrec run` (stages::Pipeline) runs what `streamrec batch --cutoff-group
// streamrec-user` runs, every `interval_minutes`, on a thread of its own at a lower CPU
// priority, so the stages never wait for it.
struct BatchSchedulerOptions {
  // lambda.batch_interval_minutes: minutes between runs, measured from the start of the
  // previous one (a run that takes longer than the interval is followed by the next at
  // once, never by a burst); fractions allowed. 0 (default): off.
  double interval_minutes = 0;
  // lambda.batch_dir: where versions are written (batch-v<N>). Required when on; the
  // pipeline defaults it to <state dir>/batch.
  std::string root;
  // lambda.batch_keep: complete versions kept after each run, the newest (the rest are
  // removed). Default 3, at least 1.
  int keep = 3;
  // lambda.batch_model: train the two-tower model with each version (needed by
  // lambda.model batch|warm). Default true.
  bool model = true;
  // lambda.batch_epochs: its passes over the whole history. Default 5.
  int epochs = 5;
  // The consumer group whose committed offsets on the source topic are the cutoff: the
  // user stage's, so the item stage can adopt the view exactly (lambda.merge).
  std::string cutoff_group = "streamrec-user";
  // The source topic (topics.clicks) and the cluster.
  std::string topic;
  std::string brokers;
  // The operators.* keys shaping the view; root is set from `root` above.
  BatchJobOptions job;
  // What announcing and reading need (kafka.*, topics.*).
  Config config;

  bool enabled() const { return interval_minutes > 0; }
  // Every lambda.batch_* key, the job's operators.* keys, topics.clicks; `root`
  // defaults to `default_root` when lambda.batch_dir is absent.
  static Result<BatchSchedulerOptions> FromConfig(const Config& config, const std::string& brokers,
                                                  const std::string& default_root);
};

// Makes the model step of a run (empty: views only). Called once per run.
using ModelTrainerFactory = std::function<ModelTrainerFn(const StopFn& stop)>;

// One thread that sleeps until the next run is due (or Stop()), runs it and sleeps again.
// Each run: the cutoff is the group's committed offsets; when no record was consumed
// since the newest version's cutoff (or none at all), the run is skipped; otherwise it
// reads the topic below the cutoff, recomputes and writes a new version (BuildBatchView,
// with the model when `model`), announces it on topics.batch_views and prunes old
// versions. A failed run is logged and counted (streamrec_batch_runs_total{result=
// "failed"}) and the next one is tried at the next interval; nothing of it stops the
// stages. Stop() interrupts a run in progress (no version is left half-written) and
// joins. Thread-safe.
class BatchScheduler {
 public:
  static Result<std::unique_ptr<BatchScheduler>> Start(BatchSchedulerOptions options,
                                                       ModelTrainerFactory model_trainer,
                                                       std::function<bool()> external_stop = {});
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  void Stop();

  // Runs ended so far, by result.
  int64_t runs_ok() const { return ok_.load(); }
  int64_t runs_failed() const { return failed_.load(); }
  int64_t runs_skipped() const { return skipped_.load(); }

  enum class RunResult { kOk, kSkipped, kFailed };
  // One run now, on the caller's thread (the scheduler's loop calls it). `why` gets the
  // skip reason or the error.
  RunResult RunOnce(std::string* why);

 private:
  BatchScheduler(BatchSchedulerOptions options, ModelTrainerFactory model_trainer,
                 std::function<bool()> external_stop);
  void Loop();
  bool Stopping() const;

  const BatchSchedulerOptions options_;
  const ModelTrainerFactory model_trainer_;
  const std::function<bool()> external_stop_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0}, failed_{0}, skipped_{0};
  std::thread thread_;
};

// Registers the scheduler's metric families with their series at 0 (streamrec_batch_*:
// runs by result, run seconds, the last run's seconds and the last success's time), so
// dashboards have data whether or not a scheduler runs in the process.
void RegisterBatchSchedulerMetrics();

}  // namespace streamrec::batch
