// `streamrec run`: the whole system in one process, for a demo or development. For now:
// the embedded broker, the synthetic click generator and its producer. Each part is
// started by its own function below and kept in RunningDemo, so stages slot in as more
// Start* functions (stopped in reverse order).
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/stop_signal.h"
#include "core/metrics.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_properties.h"
#include "streams/synthetic_source.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct RunFlags {
  std::string brokers;              // empty: start the embedded broker
  std::string bootstrap_file;
  int partitions = 4;
  double rate = 200;                // synthetic events per second
  uint64_t seed = 42;
  bool no_generator = false;
  std::string metrics = "127.0.0.1:9464";
};

// What `run` has started, in start order; destroyed in reverse.
struct RunningDemo {
  TopicNames names;
  std::unique_ptr<EmbeddedBroker> broker;  // null with --brokers
  std::string brokers;
  std::unique_ptr<prometheus::Exposer> metrics;
  int metrics_port = 0;
  std::unique_ptr<SyntheticClickSource> generator;

  ~RunningDemo() {
    generator.reset();  // flushes before the broker goes away
    metrics.reset();
    broker.reset();
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
  if (Status st = StartGenerator(ctx, flags, &demo); !st.ok()) {
    std::fprintf(stderr, "streamrec run: generator: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("streamrec run: %s at %s\n",
              demo.broker ? "embedded broker (librdkafka mock cluster)" : "Kafka cluster",
              demo.brokers.c_str());
  if (demo.metrics) std::printf("  metrics:   http://%s/metrics (port %d)\n", flags.metrics.c_str(), demo.metrics_port);
  if (demo.generator) {
    std::printf("  generator: synthetic clicks at %.0f/s (seed %llu) -> %s, catalogue -> %s\n",
                flags.rate, static_cast<unsigned long long>(flags.seed), demo.names.clicks.c_str(),
                demo.names.items.c_str());
  }
  std::printf("  watch:     kcat -C -b %s -t %s -o end\n", demo.brokers.c_str(), demo.names.clicks.c_str());
  std::printf("  Ctrl-C stops.\n");
  std::fflush(stdout);

  while (!WaitForStop(std::chrono::milliseconds(200))) {
    if (demo.generator && demo.generator->finished()) break;  // it stopped on an error
  }
  Status gen_status;
  int64_t produced = 0, delivered = 0;
  if (demo.generator) {
    demo.generator->Stop();
    gen_status = demo.generator->Wait();
    produced = demo.generator->events_produced();
    delivered = demo.generator->delivered();
  }
  std::printf("streamrec run: stopped; %lld events generated, %lld messages delivered\n",
              static_cast<long long>(produced), static_cast<long long>(delivered));
  if (!gen_status.ok()) {
    std::fprintf(stderr, "streamrec run: generator: %s\n", gen_status.ToString().c_str());
    return 1;
  }
  return 0;
}

const CommandRegistration kRun(
    "run", "Run the demo in one process: embedded broker, synthetic click generator, producer",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<RunFlags>();
      sub->add_option("--brokers", flags->brokers,
                      "Use this Kafka cluster instead of starting the embedded broker");
      sub->add_option("--bootstrap-file", flags->bootstrap_file,
                      "Write the embedded broker's address to this file");
      sub->add_option("--partitions", flags->partitions, "Partitions per topic (embedded broker)")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      sub->add_option("--rate", flags->rate, "Synthetic events per second (0 = as fast as possible)")
          ->capture_default_str();
      sub->add_option("--seed", flags->seed, "Seed of the synthetic generator")->capture_default_str();
      sub->add_flag("--no-generator", flags->no_generator, "Do not start the synthetic generator");
      sub->add_option("--metrics", flags->metrics, "Serve Prometheus metrics on ADDR:PORT, or off")
          ->capture_default_str();
      return [flags](const CommandContext& ctx) { return RunDemo(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
