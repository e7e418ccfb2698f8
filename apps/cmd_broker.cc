// `streamrec broker`: the embedded Kafka broker (librdkafka's mock cluster) on loopback,
// with every topic of DESIGN §2 created, until SIGINT/SIGTERM.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/stop_signal.h"
#include "core/metrics.h"
#include "http/metrics_server.h"
#include "streams/embedded_broker.h"
#include "streams/kafka_properties.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct BrokerFlags {
  int partitions = 4;
  int brokers = 1;
  std::string bootstrap_file;
  std::vector<std::string> extra_topics;
  std::string metrics = "off";
};

int RunBroker(const CommandContext& ctx, const BrokerFlags& flags) {
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) {
    std::fprintf(stderr, "streamrec broker: %s\n", names.status().ToString().c_str());
    return 2;
  }
  EmbeddedBrokerOptions options;
  options.num_brokers = flags.brokers;
  options.default_partitions = flags.partitions;
  options.topics = DefaultTopicSpecs(*names, flags.partitions);
  for (const auto& t : flags.extra_topics) options.topics.push_back({t, flags.partitions, false});
  InstallStopSignalHandlers();
  auto broker = EmbeddedBroker::Start(options);
  if (!broker.ok()) {
    std::fprintf(stderr, "streamrec broker: %s\n", broker.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<http::MetricsServer> metrics_server;
  int port = 0;
  if (flags.metrics != "off") {
    auto started = http::StartMetricsServer(flags.metrics, &port);
    if (!started.ok()) {
      std::fprintf(stderr, "streamrec broker: %s\n", started.status().ToString().c_str());
      return 1;
    }
    metrics_server = std::move(started).value();
  }
  const std::string& bootstrap = (*broker)->bootstrap_servers();
  if (!flags.bootstrap_file.empty()) {
    Status st = WriteBootstrapFile(flags.bootstrap_file, bootstrap);
    if (!st.ok()) {
      std::fprintf(stderr, "streamrec broker: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  // The address alone on stdout (for scripts); the rest on stderr.
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "streamrec broker: embedded broker (librdkafka mock cluster, in memory, ~5 MB kept "
               "per partition) at %s; %zu topics with %d partitions; Ctrl-C stops it\n",
               bootstrap.c_str(), options.topics.size(), flags.partitions);
  while (!WaitForStop(std::chrono::milliseconds(500))) {
  }
  if (!flags.bootstrap_file.empty()) ::unlink(flags.bootstrap_file.c_str());
  std::fprintf(stderr, "streamrec broker: stopped\n");
  return 0;
}

const CommandRegistration kBroker(
    "broker", "Run the embedded Kafka broker (librdkafka mock cluster) on loopback until Ctrl-C",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<BrokerFlags>();
      sub->add_option("--partitions", flags->partitions,
                      "Partitions of each topic (streamrec.models has 1)")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      sub->add_option("--brokers-count", flags->brokers, "Brokers in the mock cluster")
          ->check(CLI::Range(1, 16))
          ->capture_default_str();
      sub->add_option("--bootstrap-file", flags->bootstrap_file,
                      "Write the bootstrap address to this file (atomically; removed on exit)");
      sub->add_option("--topic", flags->extra_topics, "Create this extra topic too (repeatable)");
      sub->add_option("--metrics", flags->metrics, "Serve Prometheus metrics on ADDR:PORT, or off")
          ->capture_default_str();
      sub->footer(
          "Prints the bootstrap address (127.0.0.1:PORT) on stdout. In memory only; the mock "
          "cluster keeps about the newest 5 MB per partition and does not compact, so it is for "
          "development, demos and tests. Production points --brokers at a Kafka cluster.");
      return [flags](const CommandContext& ctx) { return RunBroker(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
