// `streamrec serve`: the serving operator alone (DESIGN §2) — global tables, the request
// loop on clicks + rec-requests, model hot swap from streamrec.models — with the HTTP
// API, against a Kafka cluster or `streamrec broker`, until SIGINT/SIGTERM.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/stop_signal.h"
#include "serving/serving_config.h"
#include "serving/serving_operator.h"
#include "streams/kafka_properties.h"

namespace streamrec::apps {
namespace {

struct ServeFlags {
  std::string brokers;
  std::string bootstrap_file;
  std::string http;  // empty: serving.http from the config
  bool no_http = false;
};

int RunServe(const CommandContext& ctx, const ServeFlags& flags) {
  std::string brokers = flags.brokers;
  if (brokers.empty() && !flags.bootstrap_file.empty()) {
    auto b = ReadBootstrapFile(flags.bootstrap_file);
    if (!b.ok()) {
      std::fprintf(stderr, "streamrec serve: %s\n", b.status().ToString().c_str());
      return 2;
    }
    brokers = *b;
  }
  auto options = serving::ServingOptionsFromConfig(ctx.config, brokers, flags.http);
  if (!options.ok()) {
    std::fprintf(stderr, "streamrec serve: %s\n", options.status().ToString().c_str());
    return 2;
  }
  if (options->brokers.empty() && options->kafka.count("bootstrap.servers") == 0) {
    std::fprintf(stderr,
                 "streamrec serve: no brokers: pass --brokers HOST:PORT, --bootstrap-file F or "
                 "kafka.bootstrap.servers\n");
    return 2;
  }
  if (flags.no_http) options->serve_http = false;
  InstallStopSignalHandlers();
  serving::ServingOperator op(*options);
  Status st = op.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "streamrec serve: %s\n", st.ToString().c_str());
    return 1;
  }
  if (op.http() != nullptr) {
    std::fprintf(stderr,
                 "streamrec serve: answering %s on %s; HTTP on http://%s\n"
                 "  curl 'http://%s/v1/recommendations?user_id=u1&k=10'\n"
                 "  curl http://%s/readyz   curl http://%s/metrics\n",
                 options->topics.rec_requests.c_str(), options->topics.recommendations.c_str(),
                 op.http()->address().c_str(), op.http()->address().c_str(),
                 op.http()->address().c_str(), op.http()->address().c_str());
  } else {
    std::fprintf(stderr, "streamrec serve: answering %s on %s (no HTTP)\n",
                 options->topics.rec_requests.c_str(), options->topics.recommendations.c_str());
  }
  while (!WaitForStop(std::chrono::milliseconds(500))) {
  }
  op.Stop();
  std::fprintf(stderr, "streamrec serve: stopped\n");
  return 0;
}

const CommandRegistration kServe(
    "serve",
    "Run the serving operator (Kafka requests, model hot swap) and the HTTP API until Ctrl-C",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<ServeFlags>();
      sub->add_option("--brokers", flags->brokers, "bootstrap.servers (default: kafka.bootstrap.servers)");
      sub->add_option("--bootstrap-file", flags->bootstrap_file,
                      "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
      sub->add_option("--http", flags->http,
                      "HTTP API address HOST:PORT (default serving.http, 127.0.0.1:8080; port 0 "
                      "picks a free one)");
      sub->add_flag("--no-http", flags->no_http, "Answer Kafka requests only");
      sub->footer(
          "Config keys: serving.* (see serving/serving_config.h: weights, candidates, diversity "
          "caps, k limits, ann), topics.*, kafka.* (passed to librdkafka).");
      return [flags](const CommandContext& ctx) { return RunServe(ctx, *flags); };
    });

}  // namespace
}  // namespace streamrec::apps
