// `streamrec topics create|list`: topics through the Kafka Admin API, for a real cluster.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/stop_signal.h"
#include "streams/kafka_properties.h"
#include "streams/topic_admin.h"
#include "streams/topics.h"

namespace streamrec::apps {
namespace {

struct TopicsFlags {
  std::string brokers;
  std::string bootstrap_file;
  int partitions = 12;
  int replication = 3;
  int timeout_ms = 30000;
  std::vector<std::string> only;  // create only these default topics (by name)
};

Result<TopicAdminOptions> AdminOptions(const CommandContext& ctx, const TopicsFlags& flags) {
  TopicAdminOptions o;
  o.properties = KafkaPropertiesFromConfig(ctx.config);
  auto brokers = RequireBrokers(ctx.config, flags.brokers, flags.bootstrap_file);
  if (!brokers.ok()) return brokers.status();
  o.brokers = *brokers;
  o.replication_factor = flags.replication;
  o.timeout_ms = flags.timeout_ms;
  return o;
}

int Create(const CommandContext& ctx, const TopicsFlags& flags) {
  auto options = AdminOptions(ctx, flags);
  if (!options.ok()) {
    std::fprintf(stderr, "streamrec topics create: %s\n", options.status().message().c_str());
    return 2;
  }
  auto names = TopicNames::FromConfig(ctx.config);
  if (!names.ok()) {
    std::fprintf(stderr, "streamrec topics create: %s\n", names.status().message().c_str());
    return 2;
  }
  std::vector<TopicSpec> specs;
  for (auto& spec : DefaultTopicSpecs(*names, flags.partitions)) {
    if (flags.only.empty() ||
        std::find(flags.only.begin(), flags.only.end(), spec.name) != flags.only.end()) {
      specs.push_back(spec);
    }
  }
  if (specs.empty()) {
    std::fprintf(stderr, "streamrec topics create: --topic names no default topic\n");
    return 2;
  }
  InstallStopSignalHandlers();
  if (int rc = RequireKafka("topics create", ctx.config, options->brokers); rc != 0) return rc;
  auto results = CreateTopics(*options, specs);
  if (!results.ok()) {
    std::fprintf(stderr, "streamrec topics create: %s\n", results.status().ToString().c_str());
    return 1;
  }
  int failed = 0;
  for (const auto& r : *results) {
    const TopicSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == r.name) spec = &s;
    }
    if (!r.status.ok()) {
      ++failed;
      std::printf("%-32s FAILED %s\n", r.name.c_str(), r.status.message().c_str());
    } else {
      std::printf("%-32s %s (%d partitions%s)\n", r.name.c_str(),
                  r.already_existed ? "exists" : "created", spec ? spec->partitions : 0,
                  spec && spec->compacted ? ", cleanup.policy=compact" : "");
    }
  }
  return failed == 0 ? 0 : 1;
}

int List(const CommandContext& ctx, const TopicsFlags& flags) {
  auto options = AdminOptions(ctx, flags);
  if (!options.ok()) {
    std::fprintf(stderr, "streamrec topics list: %s\n", options.status().message().c_str());
    return 2;
  }
  InstallStopSignalHandlers();
  if (int rc = RequireKafka("topics list", ctx.config, options->brokers); rc != 0) return rc;
  auto topics = ListTopics(*options);
  if (!topics.ok()) {
    std::fprintf(stderr, "streamrec topics list: %s\n", topics.status().ToString().c_str());
    return 1;
  }
  for (const auto& t : *topics) std::printf("%s\t%d\n", t.name.c_str(), t.partitions);
  return 0;
}

void AddConnectionFlags(CLI::App* app, TopicsFlags* flags) {
  app->add_option("--brokers", flags->brokers, "bootstrap.servers of the cluster");
  app->add_option("--bootstrap-file", flags->bootstrap_file,
                  "Read the bootstrap address from this file (streamrec broker --bootstrap-file)");
  app->add_option("--timeout-ms", flags->timeout_ms, "Request timeout")->capture_default_str();
}

const CommandRegistration kTopics(
    "topics", "Create or list the topics on a Kafka cluster (Admin API)",
    [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<TopicsFlags>();
      auto which = std::make_shared<std::string>();
      sub->require_subcommand(1);
      CLI::App* create = sub->add_subcommand(
          "create",
          "Create every default topic (tables with cleanup.policy=compact) through the Admin API");
      AddConnectionFlags(create, flags.get());
      create
          ->add_option("--partitions", flags->partitions,
                       "Partitions per topic (streamrec.models: 1)")
          ->check(CLI::Range(1, 10000))
          ->capture_default_str();
      create->add_option("--replication", flags->replication, "Replication factor")
          ->check(CLI::Range(1, 100))
          ->capture_default_str();
      create->add_option("--topic", flags->only, "Create only this default topic (repeatable)");
      create->footer(
          "For a real Kafka cluster. The embedded broker (librdkafka's mock cluster) answers no "
          "CreateTopics request - the request times out - and creates its own topics.");
      create->callback([which] { *which = "create"; });
      CLI::App* list = sub->add_subcommand("list", "List topics and their partition counts");
      AddConnectionFlags(list, flags.get());
      list->callback([which] { *which = "list"; });
      return [flags, which](const CommandContext& ctx) {
        return *which == "create" ? Create(ctx, *flags) : List(ctx, *flags);
      };
    });

}  // namespace
}  // namespace streamrec::apps
