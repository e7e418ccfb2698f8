// `streamrec run`: the whole system in one process, for a demo or development: the
// embedded broker (or --brokers), every stage (user, item, trainer, serving with the HTTP
// API), and the synthetic click generator. Each part is started by its own function
// below and kept in RunningDemo; stages run on their own threads and stop in reverse
// order on Ctrl-C.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/stop_signal.h"
#include "apps/trainer_stage.h"
#include "core/metrics.h"
#include "operators/item_stage.h"
#include "operators/stage_runner.h"
#include "operators/user_stage.h"
#include "serving/serving_config.h"
#include "serving/serving_operator.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_consumer.h"
#include "streams/kafka_properties.h"
#include "streams/synthetic_source.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct RunFlags {
  std::string brokers;  // empty: start the embedded broker
  std::string bootstrap_file;
  int partitions = 4;
  double rate = 200;  // synthetic events per second
  uint64_t seed = 42;
  bool no_generator = false;
  std::string metrics = "127.0.0.1:9464";
  std::string http = "127.0.0.1:8080";  // HTTP API of the serving stage
  std::string state_dir;                // empty: a fresh temporary directory
  bool keep_state = false;
};

// A stage running on its own thread until the shared stop flag is set.
class StageThread {
 public:
  StageThread(std::string name, std::function<Status(const std::function<bool()>&)> run)
      : name_(std::move(name)) {
    thread_ = std::thread([this, run = std::move(run)] {
      status_ = run([this] { return stop_.load() || StopRequested(); });
      done_.store(true);
    });
  }
  ~StageThread() { Join(); }
  void RequestStop() { stop_.store(true); }
  Status Join() {
    RequestStop();
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  bool done() const { return done_.load(); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  Status status_;  // written by the thread, read after join
  std::thread thread_;
};

// What `run` has started, in start order; destroyed in reverse.
struct RunningDemo {
  TopicNames names;
  std::unique_ptr<EmbeddedBroker> broker;  // null with --brokers
  std::string brokers;
  std::unique_ptr<prometheus::Exposer> metrics;
  int metrics_port = 0;
  std::string state_dir;
  bool remove_state_dir = false;
  std::vector<std::unique_ptr<StageThread>> stages;  // user, item, trainer
  std::unique_ptr<serving::ServingOperator> serving;
  std::unique_ptr<SyntheticClickSource> generator;

  // Stops everything in reverse start order; the first stage error, if any.
  Status StopAll() {
    Status first;
    generator.reset();  // flushes before the broker goes away
    if (serving) serving->Stop();
    for (auto it = stages.rbegin(); it != stages.rend(); ++it) {
      Status st = (*it)->Join();
      if (!st.ok() && first.ok()) first = st.WithContext("stage " + (*it)->name());
    }
    stages.clear();
    serving.reset();
    return first;
  }

  ~RunningDemo() {
    StopAll();
    metrics.reset();
    broker.reset();
    if (remove_state_dir) {
      std::error_code ec;
      std::filesystem::remove_all(state_dir, ec);
    }
  }
};

Status StartBroker(const CommandContext& ctx, const RunFlags& flags, RunningDemo* demo) {
  demo->brokers = ResolveBrokers(ctx.config, flags.brokers);
  if (!demo->brokers.empty()) return Status::Ok();  // an external cluster
  EmbeddedBrokerOptions options;
  options.topics = DefaultTopicSpecs(demo->names, flags.partitions);
  auto broker = EmbeddedBroker::Start(options);
  if (!broker.ok()) return broker.status();
  demo->broker = std::move(broker).value();
  demo->brokers = demo->broker->bootstrap_servers();
  if (!flags.bootstrap_file.empty()) {
    STREAMREC_RETURN_IF_ERROR(WriteBootstrapFile(flags.bootstrap_file, demo->brokers));
  }
  return Status::Ok();
}

Status StartMetrics(const RunFlags& flags, RunningDemo* demo) {
  if (flags.metrics.empty() || flags.metrics == "off") return Status::Ok();
  auto exposer = StartMetricsExposer(flags.metrics, &demo->metrics_port);
  if (!exposer.ok()) return exposer.status();
  demo->metrics = std::move(exposer).value();
  return Status::Ok();
}

Status PrepareStateDir(const RunFlags& flags, RunningDemo* demo) {
  if (!flags.state_dir.empty()) {
    demo->state_dir = flags.state_dir;
  } else {
    // The embedded broker forgets everything on exit, so state (and the offsets stored in
    // it) from an earlier run would not match: each run starts from a fresh directory.
    std::string templ = (std::filesystem::temp_directory_path() / "streamrec-run-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) return Status::IoError("cannot create a state directory");
    demo->state_dir = templ;
    demo->remove_state_dir = !flags.keep_state;
  }
  std::error_code ec;
  std::filesystem::create_directories(demo->state_dir, ec);
  if (ec) return Status::IoError("state directory " + demo->state_dir + ": " + ec.message());
  return Status::Ok();
}

// The partition count of a topic on an external cluster.
Result<int> PartitionsOf(const CommandContext& ctx, const RunningDemo& demo,
                         const std::string& topic) {
  ConsumerOptions co;
  co.brokers = demo.brokers;
  co.properties = KafkaPropertiesFromConfig(ctx.config);
  auto consumer = KafkaConsumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  return (*consumer)->PartitionCount(topic, 10000);
}

Status StartTopologyStage(const CommandContext& ctx, const std::string& name,
                          operators::Topology topology, int64_t commit_interval_ms,
                          RunningDemo* demo) {
  operators::StageRunnerOptions ro;
  ro.brokers = demo->brokers;
  ro.properties = KafkaPropertiesFromConfig(ctx.config);
  ro.group_id = "streamrec-" + name;
  ro.state_dir = demo->state_dir;
  ro.commit_interval_ms = commit_interval_ms;
  auto runner = operators::StageRunner::Create(std::move(topology), ro);
  if (!runner.ok()) return runner.status().WithContext(name + " stage");
  std::shared_ptr<operators::StageRunner> shared = std::move(runner).value();
  demo->stages.push_back(std::make_unique<StageThread>(
      name, [shared](const std::function<bool()>& stop) { return shared->Run(stop); }));
  return Status::Ok();
}

Status StartStages(const CommandContext& ctx, const RunFlags& flags, RunningDemo* demo) {
  auto user = operators::UserStageOptions::FromConfig(ctx.config);
  if (!user.ok()) return user.status();
  if (user->item_partitions == 0) {
    if (demo->broker) {
      user->item_partitions = flags.partitions;
    } else {
      auto n = PartitionsOf(ctx, *demo, user->topics.cooc_deltas);
      if (!n.ok()) return n.status().WithContext("partitions of " + user->topics.cooc_deltas);
      user->item_partitions = *n;
    }
  }
  STREAMREC_RETURN_IF_ERROR(StartTopologyStage(ctx, "user", operators::UserStageTopology(*user),
                                               user->flush_interval_ms, demo));
  auto item = operators::ItemStageOptions::FromConfig(ctx.config);
  if (!item.ok()) return item.status();
  STREAMREC_RETURN_IF_ERROR(StartTopologyStage(ctx, "item", operators::ItemStageTopology(*item),
                                               item->flush_interval_ms, demo));

  auto trainer_options = TrainerStageOptionsFromConfig(ctx.config, demo->brokers);
  if (!trainer_options.ok()) return trainer_options.status();
  if (!ctx.config.Has("trainer.model_dir")) {
    trainer_options->trainer.model_dir = demo->state_dir + "/models";
  }
  // The demo should show a model within seconds, not after 1000 steps.
  if (!ctx.config.Has("trainer.snapshot_every_seconds"))
    trainer_options->trainer.snapshot_every_seconds = 10;
  if (!ctx.config.Has("trainer.batch_size")) trainer_options->trainer.batch_size = 256;
  auto trainer = TrainerStage::Create(std::move(trainer_options).value());
  if (!trainer.ok()) return trainer.status().WithContext("trainer stage");
  std::shared_ptr<TrainerStage> shared = std::move(trainer).value();
  demo->stages.push_back(std::make_unique<StageThread>(
      "trainer", [shared](const std::function<bool()>& stop) { return shared->Run(stop); }));

  auto serving_options = serving::ServingOptionsFromConfig(ctx.config, demo->brokers, flags.http);
  if (!serving_options.ok()) return serving_options.status();
  demo->serving = std::make_unique<serving::ServingOperator>(std::move(serving_options).value());
  return demo->serving->Start().WithContext("serving stage");
}

Status StartGenerator(const CommandContext& ctx, const RunFlags& flags, RunningDemo* demo) {
  if (flags.no_generator) return Status::Ok();
  SyntheticSourceOptions so;
  so.producer.brokers = demo->brokers;
  so.producer.properties = KafkaPropertiesFromConfig(ctx.config);
  so.generator.seed = flags.seed;
  // Event time starts now, so the demo's event times look like today's.
  so.generator.start_ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  so.clicks_topic = demo->names.clicks;
  so.items_topic = demo->names.items;
  so.rate = flags.rate;
  auto source = SyntheticClickSource::Start(so);
  if (!source.ok()) return source.status();
  demo->generator = std::move(source).value();
  return Status::Ok();
}

int RunDemo(const CommandContext& ctx, const RunFlags& flags) {
  RunningDemo demo;
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) {
    std::fprintf(stderr, "streamrec run: %s\n", names.status().message().c_str());
    return 2;
  }
  demo.names = *names;
  InstallStopSignalHandlers();
  if (Status st = StartBroker(ctx, flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: broker: %s\n", st.ToString().c_str());
    return 1;
  }
  if (Status st = StartMetrics(flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: metrics: %s\n", st.ToString().c_str());
    return 1;
  }
  if (Status st = PrepareStateDir(flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: %s\n", st.ToString().c_str());
    return 1;
  }
  if (Status st = StartStages(ctx, flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: %s\n", st.ToString().c_str());
    return 1;
  }
  if (Status st = StartGenerator(ctx, flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: generator: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("streamrec run: %s at %s\n",
              demo.broker ? "embedded broker (librdkafka mock cluster)" : "Kafka cluster",
              demo.brokers.c_str());
  if (demo.metrics) {
    const std::string host = flags.metrics.substr(0, flags.metrics.rfind(':'));
    std::printf("  metrics:   http://%s:%d/metrics\n", host.c_str(), demo.metrics_port);
  }
  if (demo.generator) {
    std::printf("  generator: synthetic clicks at %.0f/s (seed %llu) -> %s, catalogue -> %s\n",
                flags.rate, static_cast<unsigned long long>(flags.seed), demo.names.clicks.c_str(),
                demo.names.items.c_str());
  }
  std::printf("  stages:    user, item, trainer, serving (state in %s%s)\n", demo.state_dir.c_str(),
              demo.remove_state_dir ? ", removed on exit" : "");
  if (const serving::HttpApi* http = demo.serving->http()) {
    std::printf(
        "  HTTP API:  http://%s  (/v1/recommendations, /v1/items/{id}/similar, /v1/events, "
        "/healthz, /readyz, /metrics)\n",
        http->address().c_str());
    std::printf("  try:       curl 'http://%s/v1/recommendations?user_id=user-00007&k=10'\n",
                http->address().c_str());
    std::printf("             curl 'http://%s/v1/items/item-00003/similar?k=5'\n",
                http->address().c_str());
  }
  std::printf("  watch:     kcat -C -b %s -t %s -o end\n", demo.brokers.c_str(),
              demo.names.recommendations.c_str());
  std::printf("  Ctrl-C stops.\n");
  std::fflush(stdout);

  bool stage_failed = false;
  while (!WaitForStop(std::chrono::milliseconds(200))) {
    if (demo.generator && demo.generator->finished() && !flags.no_generator)
      break;  // stopped on an error
    for (const auto& stage : demo.stages) stage_failed |= stage->done();
    if (stage_failed) break;
  }
  Status gen_status;
  int64_t produced = 0, delivered = 0;
  if (demo.generator) {
    demo.generator->Stop();
    gen_status = demo.generator->Wait();
    produced = demo.generator->events_produced();
    delivered = demo.generator->delivered();
  }
  Status stages_status = demo.StopAll();
  std::printf("streamrec run: stopped; %lld events generated, %lld messages delivered\n",
              static_cast<long long>(produced), static_cast<long long>(delivered));
  if (!gen_status.ok()) {
    std::fprintf(stderr, "streamrec run: generator: %s\n", gen_status.ToString().c_str());
    return 1;
  }
  if (!stages_status.ok()) {
    std::fprintf(stderr, "streamrec run: %s\n", stages_status.ToString().c_str());
    return 1;
  }
  return 0;
}

const CommandRegistration kRun(
    "run", "Run everything in one process: embedded broker, all stages, synthetic clicks, HTTP API",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<RunFlags>();
      sub->add_option("--brokers", flags->brokers,
                      "Use this Kafka cluster instead of starting the embedded broker");
      sub->add_option("--bootstrap-file", flags->bootstrap_file,
                      "Write the embedded broker's address to this file");
      sub->add_option("--partitions", flags->partitions, "Partitions per topic (embedded broker)")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      sub->add_option("--rate", flags->rate,
                      "Synthetic events per second (0 = as fast as possible)")
          ->capture_default_str();
      sub->add_option("--seed", flags->seed, "Seed of the synthetic generator")
          ->capture_default_str();
      sub->add_flag("--no-generator", flags->no_generator, "Do not start the synthetic generator");
      sub->add_option("--metrics", flags->metrics, "Serve Prometheus metrics on ADDR:PORT, or off")
          ->capture_default_str();
      sub->add_option("--http", flags->http, "HTTP API HOST:PORT (port 0 = any free port)")
          ->capture_default_str();
      sub->add_option(
          "--state-dir", flags->state_dir,
          "Keep stage state and models here (default: a temporary directory removed on exit)");
      sub->add_flag("--keep-state", flags->keep_state,
                    "Do not remove the temporary state directory on exit");
      return [flags](const CommandContext& ctx) { return RunDemo(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
