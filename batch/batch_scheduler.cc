#include "batch/batch_scheduler.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "batch/batch_run.h"
#include "core/metrics.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::batch {
namespace {

struct SchedulerMetrics {
  prometheus::Counter* ok;
  prometheus::Counter* failed;
  prometheus::Counter* skipped;
  prometheus::Histogram* seconds;
  prometheus::Gauge* last_seconds;
  prometheus::Gauge* last_success;
};

SchedulerMetrics& Metrics() {
  static SchedulerMetrics m = [] {
    auto registry = MetricsRegistry();
    auto& runs = prometheus::BuildCounter()
                     .Name("streamrec_batch_runs_total")
                     .Help("Scheduled batch-layer runs (lambda.batch_interval_minutes), by result: ok (a version "
                           "written and announced), skipped (nothing consumed since the newest version), failed")
                     .Register(*registry);
    auto& seconds = prometheus::BuildHistogram()
                        .Name("streamrec_batch_run_seconds")
                        .Help("Duration of a scheduled batch-layer run that wrote a version (read, recompute, "
                              "model, write, announce)")
                        .Register(*registry);
    auto& last = prometheus::BuildGauge()
                     .Name("streamrec_batch_last_run_seconds")
                     .Help("Duration of the last scheduled batch-layer run that wrote a version (0: none yet)")
                     .Register(*registry);
    auto& success = prometheus::BuildGauge()
                        .Name("streamrec_batch_last_success_timestamp_seconds")
                        .Help("When the last scheduled batch-layer run wrote a version, Unix seconds (0: none yet)")
                        .Register(*registry);
    return SchedulerMetrics{&runs.Add({{"result", "ok"}}),
                            &runs.Add({{"result", "failed"}}),
                            &runs.Add({{"result", "skipped"}}),
                            &seconds.Add({}, prometheus::Histogram::BucketBoundaries{1, 5, 15, 30, 60, 120, 300, 600,
                                                                                      1800, 3600}),
                            &last.Add({}),
                            &success.Add({})};
  }();
  return m;
}

std::string Offsets(const std::vector<int64_t>& offsets) {
  std::string out;
  for (size_t i = 0; i < offsets.size(); ++i) out += (i ? "," : "") + std::to_string(offsets[i]);
  return out;
}

}  // namespace

void RegisterBatchSchedulerMetrics() { Metrics(); }

Result<BatchSchedulerOptions> BatchSchedulerOptions::FromConfig(const Config& config, const std::string& brokers,
                                                                const std::string& default_root) {
  BatchSchedulerOptions o;
  auto interval = config.GetDouble("lambda.batch_interval_minutes", o.interval_minutes);
  if (!interval.ok()) return interval.status();
  if (*interval < 0) return Status::InvalidArgument("lambda.batch_interval_minutes must be >= 0 (0: off)");
  o.interval_minutes = *interval;
  auto root = config.GetString("lambda.batch_dir", default_root);
  if (!root.ok()) return root.status();
  o.root = *root;
  auto keep = config.GetInt("lambda.batch_keep", o.keep);
  if (!keep.ok()) return keep.status();
  if (*keep < 1) return Status::InvalidArgument("lambda.batch_keep must be >= 1");
  o.keep = static_cast<int>(*keep);
  auto model = config.GetBool("lambda.batch_model", o.model);
  if (!model.ok()) return model.status();
  o.model = *model;
  auto epochs = config.GetInt("lambda.batch_epochs", o.epochs);
  if (!epochs.ok()) return epochs.status();
  if (*epochs < 1 || *epochs > 1000) return Status::InvalidArgument("lambda.batch_epochs must be in 1..1000");
  o.epochs = static_cast<int>(*epochs);
  auto names = TopicNames::FromConfig(config);
  if (!names.ok()) return names.status();
  o.topic = names->clicks;
  o.brokers = brokers;
  auto job = BatchJobOptions::FromConfig(config);
  if (!job.ok()) return job.status();
  o.job = std::move(job).value();
  o.job.root = o.root;
  o.config = config;
  if (o.enabled() && o.root.empty()) {
    return Status::InvalidArgument("lambda.batch_interval_minutes needs lambda.batch_dir");
  }
  return o;
}

BatchScheduler::BatchScheduler(BatchSchedulerOptions options, ModelTrainerFactory model_trainer,
                               std::function<bool()> external_stop)
    : options_(std::move(options)),
      model_trainer_(std::move(model_trainer)),
      external_stop_(std::move(external_stop)) {}

Result<std::unique_ptr<BatchScheduler>> BatchScheduler::Start(BatchSchedulerOptions options,
                                                              ModelTrainerFactory model_trainer,
                                                              std::function<bool()> external_stop) {
  if (!options.enabled()) return Status::InvalidArgument("batch scheduler: lambda.batch_interval_minutes is 0");
  if (options.root.empty()) return Status::InvalidArgument("batch scheduler: no lambda.batch_dir");
  if (options.brokers.empty()) return Status::InvalidArgument("batch scheduler: no brokers");
  RegisterBatchSchedulerMetrics();
  std::unique_ptr<BatchScheduler> s(
      new BatchScheduler(std::move(options), std::move(model_trainer), std::move(external_stop)));
  s->thread_ = std::thread([raw = s.get()] { raw->Loop(); });
  return s;
}

BatchScheduler::~BatchScheduler() { Stop(); }

void BatchScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BatchScheduler::Stopping() const { return stop_.load() || (external_stop_ && external_stop_()); }

void BatchScheduler::Loop() {
  // Below the stages: a run competes for the CPU only with what they leave (a child
  // process, the model's, inherits it).
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10) != 0) {
    spdlog::debug("batch scheduler: could not lower its priority");
  }
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.interval_minutes * 60.0));
  spdlog::info("batch layer: a run every {} min into {} (cutoff: the offsets of {} on {}; model: {})",
               options_.interval_minutes, options_.root, options_.cutoff_group, options_.topic,
               options_.model ? "yes" : "no");
  auto due = std::chrono::steady_clock::now() + interval;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Woken by Stop(); the external stop (a signal) is polled.
      while (!Stopping() && std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, std::min(due, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)));
      }
    }
    if (Stopping()) return;
    const auto started = std::chrono::steady_clock::now();
    std::string why;
    switch (RunOnce(&why)) {
      case RunResult::kOk:
        break;
      case RunResult::kSkipped:
        spdlog::info("batch layer: run skipped: {}", why);
        break;
      case RunResult::kFailed:
        if (Stopping()) return;  // interrupted by the stop: not a failure
        spdlog::error("batch layer: run failed (next try in {} min): {}", options_.interval_minutes, why);
        break;
    }
    due = started + interval;
    const auto now = std::chrono::steady_clock::now();
    if (due < now) due = now;  // a run longer than the interval: the next one at once, no burst
  }
}

BatchScheduler::RunResult BatchScheduler::RunOnce(std::string* why) {
  SchedulerMetrics& m = Metrics();
  const StopFn stop = [this] { return Stopping(); };
  const auto started = std::chrono::steady_clock::now();
  auto fail = [&](const Status& st) {
    if (!Stopping()) {
      m.failed->Increment();
      failed_.fetch_add(1);
    }
    *why = st.ToString();
    return RunResult::kFailed;
  };
  // The cutoff first: a run with nothing new is skipped without reading the topic.
  auto committed = GroupCommittedOffsets(options_.brokers, KafkaPropertiesFromConfig(options_.config),
                                         options_.topic, options_.cutoff_group);
  if (!committed.ok()) return fail(committed.status().WithContext("the offsets of group " + options_.cutoff_group));
  bool any = false;
  for (int64_t o : *committed) any = any || o > 0;
  if (!any) {
    m.skipped->Increment();
    skipped_.fetch_add(1);
    *why = options_.cutoff_group + " has committed nothing on " + options_.topic + " yet";
    return RunResult::kSkipped;
  }
  auto latest = LatestVersion(options_.root);
  if (latest.ok() && latest->source.kind == BatchSource::Kind::kTopic && latest->source.topic == options_.topic) {
    std::vector<int64_t> ends;
    for (const auto& p : latest->source.partitions) ends.push_back(p.end);
    if (ends == *committed) {
      m.skipped->Increment();
      skipped_.fetch_add(1);
      *why = "nothing consumed since version " + std::to_string(latest->version) + " (cutoff " +
             Offsets(ends) + ")";
      return RunResult::kSkipped;
    }
  }
  TopicCutoff cutoff;
  cutoff.end_offsets = *committed;
  auto input = ReadTopicUpToCutoff(options_.config, options_.brokers, options_.topic, cutoff,
                                   options_.job.max_future_ms, stop);
  if (!input.ok()) return fail(input.status().WithContext("reading " + options_.topic));
  ModelTrainerFn train;
  if (options_.model && model_trainer_) train = model_trainer_(stop);
  auto manifest = BuildBatchView(*input, options_.job, stop, {}, train);
  if (!manifest.ok()) return fail(manifest.status());
  Status announced = AnnounceBatchVersion(options_.config, options_.brokers, *manifest, stop);
  if (!announced.ok()) {
    return fail(announced.WithContext("version " + std::to_string(manifest->version) + " is complete at " +
                                      manifest->dir + " but was not announced"));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.ok->Increment();
  m.seconds->Observe(secs);
  m.last_seconds->Set(secs);
  m.last_success->Set(static_cast<double>(manifest->created_ms) / 1000.0);
  spdlog::info("batch layer: version {} at {}: {} events up to {} {}, {} items, {} pairs{}; {:.2f} s",
               manifest->version, manifest->dir, manifest->events, options_.topic, Offsets(*committed),
               manifest->items, manifest->pairs, manifest->has_model ? ", a model" : "", secs);
  auto pruned = PruneBatchVersions(options_.root, options_.keep);
  if (!pruned.ok()) {
    // The version is out and announced: a cleanup failure is logged, not a failed run.
    spdlog::warn("batch layer: removing old versions under {}: {}", options_.root, pruned.status().ToString());
  } else if (!pruned->empty()) {
    spdlog::info("batch layer: removed {} old version(s), up to {}", pruned->size(), pruned->back());
  }
  ok_.fetch_add(1);
  return RunResult::kOk;
}

}  // namespace streamrec::batch
