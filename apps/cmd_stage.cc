// `streamrec stage NAME`: runs one stage as a Kafka consumer-group member (as the Helm
// chart does, one StatefulSet per stage). Stages are listed in kStages below; adding one
// is a function with the StageMain signature and one table line. The trainer's and
// serving's mains need a model and live in cmd_stage_model.cc (apps/stage_command.h).
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/kafka_check.h"
#include "apps/model_binary.h"
#include "apps/stage_command.h"
#include "apps/stop_signal.h"
#include "batch/batch_view_follower.h"
#include "core/config.h"
#include "core/file_system.h"
#include "http/metrics_server.h"
#include "operators/item_stage.h"
#include "operators/state_inspection.h"
#include "operators/user_stage.h"
#include "runtime/stage_runner.h"
#include "stages/stage_state.h"
#include "stages/topology_stage.h"
#include "state/state_db.h"
#include "streams/kafka_properties.h"

namespace streamrec::apps {
namespace {

std::map<std::string, StageMain>& ModelStages() {
  static std::map<std::string, StageMain> stages;
  return stages;
}

}  // namespace

ModelStageRegistration::ModelStageRegistration(std::string name, StageMain main) {
  ModelStages()[std::move(name)] = std::move(main);
}

StageMain FindModelStage(const std::string& name) {
  auto it = ModelStages().find(name);
  return it == ModelStages().end() ? StageMain() : it->second;
}

Result<StageEndpoints> StartStageEndpoints(const StageFlags& flags, std::function<Status()> ready) {
  StageEndpoints endpoints;
  auto start = [&ready](const std::string& address, bool serve_metrics,
                        const char* flag) -> Result<std::unique_ptr<http::MetricsServer>> {
    if (address.empty() || address == "off") return std::unique_ptr<http::MetricsServer>();
    http::MetricsServerOptions mo;
    mo.bind_address = address;
    mo.serve_metrics = serve_metrics;
    mo.ready = ready;
    auto started = http::MetricsServer::Start(std::move(mo));
    if (!started.ok()) return started.status().WithContext(std::string(flag) + " " + address);
    return started;
  };
  auto metrics = start(flags.metrics, true, "--metrics");
  if (!metrics.ok()) return metrics.status();
  endpoints.metrics = std::move(metrics).value();
  auto health = start(flags.health, false, "--health");
  if (!health.ok()) return health.status();
  endpoints.health = std::move(health).value();
  return endpoints;
}

int StageFail(const std::string& what, const Status& st) {
  std::fprintf(stderr, "streamrec stage: %s: %s\n", what.c_str(), st.ToString().c_str());
  return 1;
}

namespace {

struct StageEntry {
  const char* name;
  const char* help;
  StageMain main;
};

// Runs a topology until SIGINT/SIGTERM, with the metrics endpoint up.
int RunTopology(const CommandContext& ctx, const StageFlags& flags, runtime::Topology topology,
                int64_t commit_interval_ms) {
  auto options = stages::TopologyRunnerOptions(ctx.config, flags.brokers, flags.name, flags.group,
                                       flags.state_dir, commit_interval_ms);
  if (!options.ok()) return StageFail("config", options.status());
  // --reset-state: the changelog's copy of the state is discarded too.
  options->changelog_reset = flags.reset_state;
  const runtime::StageRunnerOptions& ro = *options;
  const std::string source = topology.source_topic;
  auto runner = runtime::StageRunner::Create(std::move(topology), ro);
  if (!runner.ok()) return StageFail("starting", runner.status());
  // /readyz: 200 once every assigned partition was read to its end offset as of its
  // assignment.
  auto endpoints = StartStageEndpoints(
      flags, [catch_up = (*runner)->catch_up()] { return catch_up->Readiness(); });
  if (!endpoints.ok()) return StageFail("endpoints", endpoints.status());
  const int port = endpoints->metrics ? endpoints->metrics->port() : 0;
  const int health_port = endpoints->health ? endpoints->health->port() : 0;
  std::fprintf(stderr,
               "streamrec stage %s: group %s, source %s, state %s, metrics %s (port %d), "
               "health port %d\n",
               flags.name.c_str(), ro.group_id.c_str(), source.c_str(),
               ro.state_dir.c_str(), flags.metrics.c_str(), port, health_port);
  Status st = (*runner)->Run([] { return StopRequested(); });
  if (!st.ok()) return StageFail("stage " + flags.name, st);
  return 0;
}

// Copies each stopped partition DB <state_dir>/<stage>-<p> to <checkpoint>/<stage>-<p>.
int CheckpointStopped(const StageFlags& flags) {
  int copied = 0;
  for (int p = 0; p < flags.partitions; ++p) {
    state::StateDbOptions o;
    o.path = flags.state_dir + "/" + flags.name + "-" + std::to_string(p);
    if (!file_system::Exists(o.path)) continue;
    o.column_families = flags.name == "item"
                            ? std::vector<std::string>{operators::kPairsStore, operators::kCountsStore}
                            : std::vector<std::string>{};
    o.counter_column_families = o.column_families;
    auto db = state::StateDb::Open(o);
    if (!db.ok()) return StageFail("opening " + o.path, db.status());
    Status made = file_system::CreateDirectories(flags.checkpoint_dir);
    if (!made.ok()) return StageFail("checkpoint", made);
    const std::string to = flags.checkpoint_dir + "/" + flags.name + "-" + std::to_string(p);
    Status st = (*db)->Checkpoint(to);
    if (!st.ok()) return StageFail("checkpoint", st);
    ++copied;
  }
  std::printf("checkpointed %d partition(s) of %s to %s\n", copied, flags.name.c_str(),
              flags.checkpoint_dir.c_str());
  return 0;
}

int RunUserStage(const CommandContext& ctx, const StageFlags& flags) {
  auto options = operators::UserStageOptions::FromConfig(ctx.config);
  if (!options.ok()) return StageFail("config", options.status());
  if (options->item_partitions == 0) {
    auto n = stages::DiscoverPartitions(ctx.config, flags.brokers, options->topics.cooc_deltas,
                                        [] { return StopRequested(); });
    if (!n.ok()) return StageFail("discovering item partitions", n.status());
    options->item_partitions = *n;
  }
  return RunTopology(ctx, flags, operators::UserStageTopology(*options), options->flush_interval_ms);
}

int RunItemStage(const CommandContext& ctx, const StageFlags& flags) {
  if (flags.dump_state) {
    auto view = operators::ReadItemStageState(flags.state_dir, flags.partitions);
    if (!view.ok()) return StageFail("reading state", view.status());
    std::printf("# events %llu items %zu pairs %zu\n", static_cast<unsigned long long>(view->events),
                view->item_counts.size(), view->pair_counts.size());
    for (const auto& [item, c] : view->item_counts) {
      std::printf("item\t%016llx\t%.17g\t%llu\n", static_cast<unsigned long long>(item), c,
                  static_cast<unsigned long long>(view->item_occurrences.at(item)));
    }
    for (const auto& [pair, c] : view->pair_counts) {
      std::printf("pair\t%016llx\t%016llx\t%.17g\n", static_cast<unsigned long long>(pair.first),
                  static_cast<unsigned long long>(pair.second), c);
    }
    return 0;
  }
  auto options = operators::ItemStageOptions::FromConfig(ctx.config);
  if (!options.ok()) return StageFail("config", options.status());
  // lambda.merge: the views announced on streamrec.batch reach the tasks through an inbox.
  std::unique_ptr<batch::BatchViewFollower> follower;
  if (options->merge_batch_views) {
    auto follow = batch::BatchViewFollowerOptions::FromConfig(ctx.config, flags.brokers);
    if (!follow.ok()) return StageFail("config", follow.status());
    options->batch_views = std::make_shared<operators::BatchViewInbox>();
    auto started = batch::BatchViewFollower::Start(std::move(follow).value(), options->batch_views);
    if (!started.ok()) return StageFail("following streamrec.batch", started.status());
    follower = std::move(started).value();
  }
  return RunTopology(ctx, flags, operators::ItemStageTopology(*options), options->flush_interval_ms);
}

const StageEntry kStages[] = {
    {"user", "clicks -> user windows -> streamrec.cooc-deltas, streamrec.training-examples", RunUserStage},
    {"item", "streamrec.cooc-deltas -> pair/item counts, top-K, p̂ -> item-neighbors, item-stats",
     RunItemStage},
    // Need a model: their mains are registered by cmd_stage_model.cc (streamrec-model only).
    {"trainer",
     "streamrec.training-examples + ranker-examples + item-stats -> two-tower (+ ranker) snapshots, announced on "
     "streamrec.models",
     nullptr},
    {"serving",
     "rec-requests + clicks + tables + models -> recommendations, HTTP API (+ ranker-examples with the ranker on)",
     nullptr},
};

const StageEntry* FindStage(const std::string& name) {
  for (const auto& s : kStages) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

CommandRegistration registration(
    "stage", "Run one stage (user | item | trainer | serving) as a Kafka consumer-group member", [](CLI::App* sub) -> RunFn {
      auto flags = std::make_shared<StageFlags>();
      std::string names;
      for (const auto& s : kStages) names += std::string(names.empty() ? "" : "\n  ") + s.name + ": " + s.help;
      sub->add_option("name", flags->name, "Stage to run:\n  " + names)->required();
      sub->add_option("--brokers", flags->brokers, "Kafka bootstrap servers (else kafka.bootstrap.servers)");
      sub->add_option("--state-dir", flags->state_dir,
                      "Directory of the partition RocksDBs (<dir>/<stage>-<partition>); replicas that "
                      "take over each other's partitions must share it")
          ->capture_default_str();
      sub->add_option("--http", flags->http, "serving: HTTP API HOST:PORT (default serving.http, 127.0.0.1:8080)");
      sub->add_option("--group", flags->group, "Consumer group (default streamrec-<stage>)");
      sub->add_option("--metrics", flags->metrics, "Prometheus endpoint host:port ('off' = none; port 0 = any)")
          ->capture_default_str();
      sub->add_option("--health", flags->health,
                      "Probe endpoint host:port serving only /healthz and /readyz, apart from "
                      "--metrics (the Helm chart's liveness and readiness probes; default none)");
      sub->add_flag("--dump-state", flags->dump_state,
                    "item: print the item and pair counts of a STOPPED stage's state (TSV) and exit");
      sub->add_option("--partitions", flags->partitions, "Partitions of the stage, for --dump-state and --checkpoint")
          ->check(CLI::Range(1, 10000));
      sub->add_flag("--reset-state", flags->reset_state,
                    "Remove the stage's stored state and input positions first (user/item: "
                    "<state-dir>/<stage>-*, and what their changelogs hold; trainer: its model store; "
                    "serving stores none) and "
                    "start over from what the broker holds now: after a topic was deleted and "
                    "recreated or the broker reset, when the stage refuses to start");
      sub->add_option("--checkpoint", flags->checkpoint_dir,
                      "Copy the STOPPED stage's partition DBs to this directory (RocksDB checkpoints) and exit");
      sub->footer(
          "Configuration keys (operators.*: window.size, window.horizon_s, weights.<event>, "
          "cooc.half_life_s, flush_interval_ms, item_partitions, similarity, top_k, "
          "popularity.half_life_s, estimator.{array_size,hashes,alpha}) are documented in "
          "operators/README.md.");
      return [flags](const CommandContext& ctx) -> int {
        const StageEntry* stage = FindStage(flags->name);
        if (stage == nullptr) {
          std::fprintf(stderr, "streamrec stage: unknown stage '%s'; try --help\n", flags->name.c_str());
          return 2;
        }
        // A stage that needs a model, in the torch-free binary: all of it (checks, flags,
        // --reset-state) is streamrec-model's.
        StageMain main = stage->main ? stage->main : FindModelStage(stage->name);
        if (!main) return ExecModelBinary(ctx.argv, "stage " + flags->name);
        StageFlags f = *flags;
        if (f.brokers.empty()) f.brokers = ResolveBrokers(ctx.config, "");
        if ((f.dump_state || !f.checkpoint_dir.empty()) && f.partitions < 1) {
          std::fprintf(stderr, "streamrec stage: --dump-state and --checkpoint need --partitions N\n");
          return 2;
        }
        if (!f.checkpoint_dir.empty()) return CheckpointStopped(f);
        if (f.dump_state && f.name != "item") {
          std::fprintf(stderr, "streamrec stage: --dump-state is for the item stage\n");
          return 2;
        }
        if (f.reset_state && (f.dump_state || !f.checkpoint_dir.empty())) {
          std::fprintf(stderr, "streamrec stage: --reset-state cannot go with --dump-state or --checkpoint\n");
          return 2;
        }
        if (!f.dump_state && f.brokers.empty()) {
          std::fprintf(stderr, "streamrec stage: no brokers: pass --brokers or set kafka.bootstrap.servers\n");
          return 2;
        }
        InstallStopSignalHandlers();
        if (!f.dump_state) {
          if (int rc = RequireKafka("stage " + f.name, ctx.config, f.brokers); rc != 0) return rc;
        }
        if (f.reset_state) {
          // The trainer's model store defaults to <state-dir>/models (RunTrainerStage).
          auto model_dir = ctx.config.GetString("trainer.model_dir", f.state_dir + "/models");
          if (!model_dir.ok()) return StageFail("config", model_dir.status());
          auto removed = stages::ResetStageState(f.name, f.state_dir, *model_dir);
          if (!removed.ok()) return StageFail("--reset-state", removed.status());
          for (const std::string& path : *removed) {
            std::fprintf(stderr, "streamrec stage %s: --reset-state: removed %s\n", f.name.c_str(), path.c_str());
          }
          if (removed->empty()) {
            std::fprintf(stderr, "streamrec stage %s: --reset-state: no stored state to remove\n", f.name.c_str());
          }
        }
        return main(ctx, f);
      };
    });

}  // namespace
}  // namespace streamrec::apps
