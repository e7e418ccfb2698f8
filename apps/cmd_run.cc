// `streamrec run`: the whole system in one process, for a demo or development: the
// embedded broker (or --brokers), every stage (user, item, trainer, serving with the HTTP
// API; stages/pipeline.h), the synthetic click generator, and the metrics endpoint. Ctrl-C
// stops everything in reverse start order. Unless --quiet, a status line on stderr shows the
// figures of core/metrics_snapshot.h: in place every second on a terminal, else a plain line.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "stages/pipeline.h"
#include "apps/stop_signal.h"
#include "core/metrics.h"
#include "core/metrics_snapshot.h"
#include "core/shutdown_steps.h"
#include "core/status_line.h"
#include "http/metrics_server.h"
#include "serving/serving_operator.h"
#include "streams/kafka_properties.h"
#include "streams/synthetic_source.h"

namespace streamrec::apps {
namespace {

struct RunFlags {
  stages::PipelineOptions pipeline;
  double rate = 200;  // synthetic events per second
  uint64_t seed = 42;
  bool no_generator = false;
  std::string metrics = "127.0.0.1:9464";
  bool quiet = false;         // no status line
  double status_every = 0;    // seconds between status lines; 0: 1 on a terminal, else 10
};

// The status line of `run` (core/status_line.h): on stderr, rewritten in place every
// second on a terminal (log records scroll above it), else a plain line every 10 s.
// Driven by the main thread's wait loop; the figures come from the process's registry.
class RunStatus {
 public:
  explicit RunStatus(double every_seconds)
      : line_(stderr, StatusLine::IsTerminal(stderr)),
        every_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(every_seconds > 0 ? every_seconds
                                                            : (line_.in_place() ? 1.0 : 10.0)))),
        last_(ReadMetricsSnapshot(*MetricsRegistry())),
        next_(last_.taken_at + every_) {
    SetActiveStatusLine(&line_);
  }
  ~RunStatus() {
    line_.Clear();
    SetActiveStatusLine(nullptr);
  }
  RunStatus(const RunStatus&) = delete;
  RunStatus& operator=(const RunStatus&) = delete;

  // Shows the line when it is due.
  void Tick() {
    if (std::chrono::steady_clock::now() < next_) return;
    MetricsSnapshot now = ReadMetricsSnapshot(*MetricsRegistry());
    const std::string text = FormatRunStatus(now, RatesBetween(last_, now));
    line_.Show(line_.in_place() ? text : "streamrec run: " + text);
    last_ = std::move(now);
    next_ = last_.taken_at + every_;
  }
  // Takes the line off the screen before the final summary.
  void Clear() { line_.Clear(); }

 private:
  StatusLine line_;
  const std::chrono::steady_clock::duration every_;
  MetricsSnapshot last_;
  std::chrono::steady_clock::time_point next_;
};

Result<std::unique_ptr<SyntheticClickSource>> StartGenerator(const CommandContext& ctx,
                                                             const RunFlags& flags,
                                                             const stages::Pipeline& pipeline) {
  SyntheticSourceOptions so;
  so.producer.brokers = pipeline.brokers();
  so.producer.properties = KafkaPropertiesFromConfig(ctx.config);
  // Ctrl-C gives up unacknowledged events only with an external cluster (which may be
  // gone): the embedded broker lives in this process, so the final flush completes, and
  // a clean Ctrl-C must not report the demo's last clicks as failed (exit 1).
  if (!pipeline.embedded_broker()) so.producer.stop = [] { return StopRequested(); };
  so.generator.seed = flags.seed;
  // A live shop: each click is stamped when it is sent (simulated time would run ahead of
  // the clock at high rates and be refused past operators.max_future_ms).
  so.wall_clock_time = true;
  // Event time starts now, so the demo's event times look like today's.
  so.generator.start_ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  so.clicks_topic = pipeline.topics().clicks;
  so.items_topic = pipeline.topics().items;
  so.rate = flags.rate;
  return SyntheticClickSource::Start(so);
}

int Fail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "streamrec run: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

void PrintWhereToLook(const RunFlags& flags, stages::Pipeline& pipeline, int metrics_port) {
  std::printf("streamrec run: %s at %s\n",
              pipeline.embedded_broker() ? "embedded broker (librdkafka mock cluster)" : "Kafka cluster",
              pipeline.brokers().c_str());
  if (metrics_port > 0) {
    const std::string host = flags.metrics.substr(0, flags.metrics.rfind(':'));
    std::printf("  metrics:   http://%s:%d/metrics\n", host.c_str(), metrics_port);
  }
  if (!flags.no_generator) {
    std::printf("  generator: synthetic clicks at %.0f/s (seed %llu) -> %s, catalogue -> %s\n",
                flags.rate, static_cast<unsigned long long>(flags.seed),
                pipeline.topics().clicks.c_str(), pipeline.topics().items.c_str());
  }
  std::printf("  stages:    user, item, trainer, serving (state in %s%s)\n",
              pipeline.state_dir().c_str(), pipeline.temporary_state() ? ", removed on exit" : "");
  if (pipeline.batch_scheduled()) {
    std::printf("  batch:     the batch layer every lambda.batch_interval_minutes into %s (announced on %s)\n",
                pipeline.batch_dir().c_str(), pipeline.topics().batch_views.c_str());
  }
  if (const serving::HttpApi* http = pipeline.serving().http()) {
    const std::string addr = http->address();
    std::printf("  HTTP API:  http://%s  (/v1/recommendations, /v1/items/{id}/similar, /v1/events, "
                "/v1/stats, /healthz, /readyz, /metrics)\n", addr.c_str());
    std::printf("  page:      http://%s/  (the storefront: pick a shopper, click, watch the list change)\n",
                addr.c_str());
    std::printf("  try:       curl 'http://%s/v1/recommendations?user_id=user-00007&k=10'\n", addr.c_str());
    std::printf("             curl 'http://%s/v1/items/item-00003/similar?k=5'\n", addr.c_str());
  }
  std::printf("  watch:     kcat -C -b %s -t %s -o end\n", pipeline.brokers().c_str(),
              pipeline.topics().recommendations.c_str());
  std::printf("  Ctrl-C stops.\n");
  std::fflush(stdout);
}

int RunDemo(const CommandContext& ctx, const RunFlags& flags) {
  InstallStopSignalHandlers();
  std::unique_ptr<http::MetricsServer> metrics;
  int metrics_port = 0;
  if (!flags.metrics.empty() && flags.metrics != "off") {
    auto metrics_server = http::StartMetricsServer(flags.metrics, &metrics_port);
    if (!metrics_server.ok()) return Fail("metrics", metrics_server.status());
    metrics = std::move(metrics_server).value();
  }
  // An external cluster must answer first; the embedded broker is started below.
  const std::string external = ResolveBrokers(ctx.config, flags.pipeline.brokers);
  if (!external.empty()) {
    if (int rc = RequireKafka("run", ctx.config, external); rc != 0) return rc;
  }
  stages::PipelineOptions pipeline_options = flags.pipeline;
  pipeline_options.external_stop = [] { return StopRequested(); };
  auto pipeline = stages::Pipeline::Start(ctx.config, pipeline_options);
  if (!pipeline.ok()) return Fail("starting", pipeline.status());
  std::unique_ptr<SyntheticClickSource> generator;
  if (!flags.no_generator) {
    auto started = StartGenerator(ctx, flags, **pipeline);
    if (!started.ok()) return Fail("generator", started.status());
    generator = std::move(started).value();
  }
  PrintWhereToLook(flags, **pipeline, metrics_port);

  std::unique_ptr<RunStatus> status;
  if (!flags.quiet) status = std::make_unique<RunStatus>(flags.status_every);
  while (!WaitForStop(std::chrono::milliseconds(200))) {
    if (generator && generator->finished()) break;  // it stopped on an error
    if ((*pipeline)->StageEnded()) break;
    if (status) status->Tick();
  }
  if (status) status->Clear();  // shutdown logs and the summary go below the last figures
  Status gen_status;
  int64_t produced = 0, delivered = 0;
  if (generator) {
    ShutdownStep step("generator");
    generator->Stop();
    gen_status = generator->Wait();
    produced = generator->events_produced();
    delivered = generator->delivered();
    generator.reset();  // flushes before the broker goes away
  }
  Status stages_status = (*pipeline)->Stop();
  pipeline->reset();
  status.reset();
  std::printf("streamrec run: stopped; %lld events generated, %lld messages delivered\n",
              static_cast<long long>(produced), static_cast<long long>(delivered));
  if (!gen_status.ok()) return Fail("generator", gen_status);
  if (!stages_status.ok()) return Fail("stage", stages_status);
  return 0;
}

const CommandRegistration kRun(
    "run", ModelCommandDescription("run"),
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<RunFlags>();
      stages::PipelineOptions& p = flags->pipeline;
      sub->add_option("--brokers", p.brokers,
                      "Use this Kafka cluster instead of starting the embedded broker");
      sub->add_option("--bootstrap-file", p.bootstrap_file,
                      "Write the embedded broker's address to this file");
      sub->add_option("--partitions", p.partitions, "Partitions per topic (embedded broker)")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      sub->add_option("--http", p.http, "HTTP API HOST:PORT (port 0 = any free port)")
          ->capture_default_str();
      sub->add_option("--state-dir", p.state_dir,
                      "Keep stage state and models here (default: a temporary directory removed on exit)");
      sub->add_flag("--keep-state", p.keep_state, "Do not remove the temporary state directory on exit");
      sub->add_flag("--reset-state", p.reset_state,
                    "With --state-dir: remove the stages' stored state, input positions and models "
                    "there first and start over (the embedded broker starts empty, so a --state-dir "
                    "from an earlier run on it refuses to start without this)");
      sub->add_option("--rate", flags->rate, "Synthetic events per second, > 0 (--no-generator: none)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
      sub->add_option("--seed", flags->seed, "Seed of the synthetic generator")->capture_default_str();
      sub->add_flag("--no-generator", flags->no_generator, "Do not start the synthetic generator");
      sub->add_option("--metrics", flags->metrics, "Serve Prometheus metrics on ADDR:PORT, or off")
          ->capture_default_str();
      sub->add_flag("--quiet", flags->quiet,
                    "No status line (by default: on stderr, rewritten every second on a "
                    "terminal, else a plain line every 10 s)");
      sub->add_option("--status-every", flags->status_every,
                      "Seconds between status lines (default 1 on a terminal, else 10)")
          ->check(CLI::NonNegativeNumber);
      sub->footer(
          "The lambda architecture (configuration keys, --set KEY=VALUE): lambda.batch_interval_minutes=N runs "
          "the batch layer (as `streamrec batch --cutoff-group streamrec-user`) every N minutes into "
          "lambda.batch_dir (default <state dir>/batch), keeping lambda.batch_keep (3) versions, with the model "
          "unless lambda.batch_model=false (lambda.batch_epochs, 5); 0 (default) is off. lambda.merge=true: the item "
          "stage adopts each version. lambda.model=online|batch|warm picks the served model (default online).\n"
          "Example: streamrec run --set lambda.batch_interval_minutes=10 --set lambda.merge=true");
      return [flags](const CommandContext& ctx) {
        if (flags->pipeline.reset_state && flags->pipeline.state_dir.empty()) {
          std::fprintf(stderr, "streamrec run: --reset-state needs --state-dir (a temporary state directory starts empty)\n");
          return 2;
        }
        return RunDemo(ctx, *flags);
      };
    });

}  // namespace
}  // namespace streamrec::apps
